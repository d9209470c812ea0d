"""``GET /v1/assessments/{id}/vitals``: the vital signs around an assessment's capture (context only)."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from gateway import AssessmentStore, ok, problems
from plugins.vitals import VitalsSettings
from plugins.vitals.service import Vitals, VitalsService

READERS = {"integrator", "telehealth", "clinician"}
EXAMPLE = Vitals("6f1c2d3e-0000-4000-8000-000000000001", "unavailable", 30.0, reason="the FHIR server could not be reached (ConnectError)")


class VitalsRoutes(Controller):
    path = "/v1/assessments"
    tags = ["vitals"]
    service: VitalsService = VitalsService(VitalsSettings())

    @get("/{assessment_id:str}/vitals", opt={"roles": READERS}, summary="Vital signs around the capture", responses=ok(Vitals, EXAMPLE) | problems(400, 404))
    async def vitals(self, request: Request, assessment_id: FromPath[str], store: NamedDependency[AssessmentStore]) -> Vitals:
        """Heart rate, respiratory rate, SpO2 and blood pressure from the EMR's FHIR server, within
        ``window_minutes`` of the capture, cached with the time read; ``status`` says ``unavailable``
        (with the reason) when the server cannot be read. Context only: the AI's score never uses them."""
        assessment = await store.get(assessment_id, request.user.tenant)
        if assessment is None:
            raise NotFoundException(f"no assessment {assessment_id}")
        return await self.service.for_assessment(store.engine, assessment)


def controller(service: VitalsService) -> type[Controller]:
    return type("VitalsRoutes", (VitalsRoutes,), {"service": service})

"""Read-only FHIR facade: the stored pain Observations searchable the way EMRs search."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.di import NamedDependency

from gateway import audit
from gateway.store import AssessmentStore
from plugins.fhir_observation.resources import (
    MEDIA_TYPE,
    FhirObservationOutput,
    assessment_identifier_system,
    capability_statement,
    code_matches,
    observation_resource,
    searchset,
)
from plugins.fhir_observation.search import parse_search

READERS = {"integrator", "telehealth", "clinician"}


def build_routes(output: FhirObservationOutput, public_base: str) -> list:
    """``public_base`` (``PAIN_GATEWAY_PUBLIC_URL``) makes every URL we hand out; the ``Host`` header never does."""
    @get("/fhir/Observation", opt={"roles": READERS}, tags=["fhir"], summary="Search pain Observations")
    async def search_observations(request: Request, store: NamedDependency[AssessmentStore]) -> Response:
        """Searchset Bundle of pain Observations, most recent first. See ``search.py`` for parameters."""
        query, codes = parse_search(list(request.query_params.multi_items()), assessment_identifier_system(output.base_url), request.user.tenant)
        if not all(code_matches(output.mappings, code) for code in codes):
            assessments, total = [], 0
        else:
            assessments, total = await store.search(query)
        for patient in {a.patient for a in assessments}:  # whose data this page disclosed
            await audit.record(store.engine, "search", "Observation", patient=patient)
        observations = [observation_resource(a, output.mappings, output.base_url) for a in assessments]
        self_url = f"{public_base}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
        return Response(searchset(observations, total, self_url), media_type=MEDIA_TYPE)

    @get("/fhir/metadata", opt={"roles": READERS}, tags=["fhir"], summary="CapabilityStatement")
    async def metadata() -> Response:
        return Response(capability_statement(f"{public_base}/fhir"), media_type=MEDIA_TYPE)

    return [search_observations, metadata]

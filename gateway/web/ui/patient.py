"""One patient's page: their assessments, newest first, and what plugins show about them (trajectory,
reference scales, vitals). EMR launches land here; the worklist and the assessment page link to it."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.di import NamedDependency

from gateway.contract.domain import InputError, PatientRef
from gateway.contract.plugin_manager import Plugins
from gateway.storage import audit
from gateway.storage.assessments import AssessmentQuery, AssessmentStore
from gateway.web.ui.guard import ui_opt
from gateway.web.ui.render import page
from gateway.web.ui.sections import sections_for
from gateway.web.ui.worklist import MAX_PAGE, PAGE_SIZE

PATIENT_FORMS = "give the patient as system|value (e.g. urn:oid:1.2.3|MRN-1), an identifier value alone, or Patient/<id>"


def parse_patient_param(text: str) -> PatientRef:
    """The ``patient`` query parameter as a ``PatientRef`` (the same forms the worklist's filter takes)."""
    text = text.strip()
    if not text:
        raise InputError("patient", f"is required; {PATIENT_FORMS}")
    if len(text) > 300:
        raise InputError("patient", f"must be at most 300 characters; {PATIENT_FORMS}")
    if text.startswith("Patient/") and "|" not in text:
        return PatientRef(reference=text)
    system, _, value = text.rpartition("|")
    if not value:
        raise InputError("patient", f"has no identifier value after '|'; {PATIENT_FORMS}")
    return PatientRef(system=system or None, value=value)


def _page_number(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_PAGE):
        raise InputError("page", f"must be a page number from 1 to {MAX_PAGE}, got {text[:20]!r}")
    return int(text)


@get("/patients", opt=ui_opt())
async def patient_page(request: Request, store: NamedDependency[AssessmentStore], plugins: NamedDependency[Plugins]) -> Response:
    """The signed-in tenant's assessments of one patient; another tenant's patient looks like one with none."""
    patient = parse_patient_param(request.query_params.get("patient", ""))
    number = _page_number(request.query_params.get("page", "1"))
    query = AssessmentQuery(
        tenant=request.user.tenant,
        reference=patient.reference,
        system=patient.system,
        value=patient.value,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    assessments, total = await store.search(query)
    await audit.record(store.engine, "read", "patient", None, patient=patient)
    pages = max(1, -(-total // PAGE_SIZE))
    return page(
        request,
        "patient.html",
        patient=patient,
        banner=request.query_params.get("banner", "1") != "0",
        assessments=assessments,
        total=total,
        number=number,
        pages=pages,
        sections=await sections_for(request, plugins, "patient", patient=patient),
    )


ROUTES = [patient_page]

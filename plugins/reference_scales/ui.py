"""The review UI: an item-by-item scale form on the patient and assessment pages (``ui_sections``), the
form's target ``POST /ui/reference-scales/scores`` and the concordance page ``/ui/concordance``.

The form is plain HTML (a fieldset of radio buttons per item, native keyboard use: Tab between items,
arrows within one), posts with the session's CSRF token and records through the same checks and
transaction as the API. A scale is picked with a GET form, so the page works without JavaScript.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect
from markupsafe import Markup

from gateway import LEVELS, AssessmentFlow, AssessmentStore, InputError, PatientRef, UiContext, UiSection, ui_opt, ui_page
from plugins.reference_scales import ReferenceScalesSettings
from plugins.reference_scales.recording import check_score
from plugins.reference_scales.routes import record
from plugins.reference_scales.scores import ScoreStore
from plugins.reference_scales.service import Filters, concordance_report

PACKAGE = "plugins.reference_scales"
RECORDERS = frozenset({"clinician"})
READERS = frozenset({"clinician", "integrator"})
ENV = jinja2.Environment(loader=jinja2.PackageLoader(PACKAGE, "templates"), autoescape=True, undefined=jinja2.StrictUndefined)
RECENT = 10


def _now() -> str:
    return datetime.now(UTC).replace(second=0, microsecond=0).isoformat().replace("+00:00", "Z")


def _safe_back(raw: Any) -> str:
    """Only a path inside the UI: never an open redirect."""
    if isinstance(raw, str) and raw.startswith("/ui/") and not raw.startswith("//") and not urlsplit(raw).netloc:
        return raw
    return "/ui/worklist"


async def section(context: UiContext, config: ReferenceScalesSettings) -> UiSection | None:
    patient: PatientRef | None = context.assessment.patient if context.assessment is not None else context.patient
    if patient is None or context.engine is None:
        return None
    scales = config.enabled()
    params = context.request.query_params
    scale = scales.get(params.get("scale", "")) or next(iter(scales.values()))
    here = context.request.url.path
    keep = [(k, v) for k, v in params.items() if k not in ("scale", "recorded")]
    back = here + ("?" + urlencode(keep + [("scale", scale.id)]) if keep or scale else "")
    store = ScoreStore(context.engine, context.tenant)
    recent = list(reversed(await store.search(patient=patient)))[:RECENT]
    recorded_id = params.get("recorded")
    recorded = next((s for s in recent if s.id == recorded_id), None)
    html = ENV.get_template("scale_section.html").render(
        scales=list(scales.values()),
        scale=scale,
        patient=patient,
        here=here,
        keep=keep,
        back=back,
        now=_now(),
        assessor=context.user.name,
        csrf_field=Markup(context.csrf_field()),
        recent=recent,
        recorded=recorded,
        pair_minutes=config.pair_minutes,
    )
    return UiSection("reference-scales", "Reference pain scale", Markup(html), order=60)


def _form_patient(form: Any) -> dict[str, Any]:
    if form.get("patient_reference"):
        return {"reference": form.get("patient_reference")}
    return {"identifier": {"system": form.get("patient_system"), "value": form.get("patient_value")}}


def pages(config: ReferenceScalesSettings) -> list[Any]:
    """The UI routes, bound to the site's settings."""

    @post("/reference-scales/scores", opt=ui_opt(RECORDERS), include_in_schema=False)
    async def record_from_form(request: Request, store: NamedDependency[AssessmentStore], flow: NamedDependency[AssessmentFlow]) -> Response[Any]:
        """The section's form: recorded like the API's, then back to the page with a confirmation."""
        form = await request.form()
        back = _safe_back(form.get("back"))
        scales = config.enabled()
        scale = scales.get(str(form.get("scale", "")))
        items = None
        if scale is not None:
            items = {}
            for item in scale.items:
                raw = form.get(f"item_{item.key}")
                if raw not in (None, ""):
                    try:
                        items[item.key] = int(str(raw))
                    except ValueError:
                        items[item.key] = raw
        body = {
            "patient": _form_patient(form),
            "scale": form.get("scale"),
            "items": items,
            "observed_at": form.get("observed_at"),
            "assessor": form.get("assessor"),
        }
        try:
            checked = check_score(scales, body)
        except InputError as exc:
            return ui_page(request, "score_refused.html", package=PACKAGE, status_code=422, field=exc.field, message=exc.message, back=back)
        score = await record(flow, store, request.user.tenant, checked, request.user.id)
        separator = "&" if "?" in back else "?"
        return Redirect(f"{back}{separator}recorded={score.id}#reference-scales", status_code=303)

    @get("/concordance", opt=ui_opt(READERS), include_in_schema=False)
    async def concordance_page(request: Request, store: NamedDependency[AssessmentStore]) -> Response[Any]:
        """The concordance figures per scale and model version, with the reliability diagram."""
        params = request.query_params
        chosen = {k: params.get(k) or None for k in ("scale", "since", "until", "model_version")}
        query = "?" + urlencode({k: v for k, v in chosen.items() if v}) if any(chosen.values()) else ""
        try:
            filters = Filters(config, chosen["scale"], chosen["since"], chosen["until"], chosen["model_version"])
            report = await concordance_report(store, request.user.tenant, config, filters)
        except InputError as exc:
            return ui_page(
                request,
                "concordance.html",
                package=PACKAGE,
                status_code=422,
                error=exc,
                chosen=chosen,
                scales=list(config.enabled()),
                query=query,
                report=None,
                levels=LEVELS,
            )
        return ui_page(
            request, "concordance.html", package=PACKAGE, error=None, chosen=chosen, scales=list(config.enabled()), query=query, report=report, levels=LEVELS
        )

    return [record_from_form, concordance_page]

"""Vital signs on the assessment page (around its capture) and the patient page (around the latest
assessment), as a ``ui_sections`` section. A server that is down makes the section say unavailable;
the page itself never waits longer than ``timeout_s`` and never fails because of it."""

from __future__ import annotations

import jinja2
from markupsafe import Markup

from gateway import AssessmentQuery, AssessmentStore, UiContext, UiSection
from plugins.vitals.service import VitalsService

ENV = jinja2.Environment(loader=jinja2.PackageLoader("plugins.vitals", "templates"), autoescape=True, undefined=jinja2.StrictUndefined)


async def section(context: UiContext, service: VitalsService) -> UiSection | None:
    if not service.config.fhir_base_url or context.engine is None:
        return None
    assessment, about = context.assessment, ""
    if assessment is None and context.patient is not None:
        p = context.patient
        latest, _ = await AssessmentStore(context.engine).search(
            AssessmentQuery(tenant=context.tenant, reference=p.reference, system=p.system, value=p.value, limit=1)
        )
        if not latest:
            return None
        assessment = latest[0]
        about = f"the latest assessment ({assessment.effective_start.strftime('%Y-%m-%d %H:%M')} UTC)"
    if assessment is None:
        return None
    vitals = await service.for_assessment(context.engine, assessment)
    html = ENV.get_template("vitals_section.html").render(v=vitals, about=about)
    return UiSection("vitals", "Vital signs in context", Markup(html), order=70)

"""One assessment as a clinician reviews it: the study's Fig. 4 (level distribution and per-second
probabilities), why the model scored it, input quality, the model and its card, and the review."""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Redirect
from markdown_it import MarkdownIt
from markupsafe import Markup

from gateway.contract.domain import LEVELS, Assessment, InputError
from gateway.contract.plugin_manager import Plugins
from gateway.pipeline.reliability import reliability_notes
from gateway.service.explanations import explain, explanation_png_for, explanation_svg
from gateway.service.flow import AssessmentFlow
from gateway.storage import audit
from gateway.storage.assessments import AssessmentStore
from gateway.storage.reviews import REVIEW_REASONS, ReviewRequest, review_history
from gateway.web.routes.reviews import REVIEWERS
from gateway.web.ui import charts
from gateway.web.ui.guard import ui_opt
from gateway.web.ui.render import page
from gateway.web.ui.sections import sections_for

LOW_FACE_SHARE = 0.9
"""Below this share of frames with a face, the page flags the clip (scoring itself fails below 0.5)."""
LARGE_HEAD_TURN_DEG = 30.0
"""A head turned further than this is flagged: the model was trained on faces seen from the front."""

CARD_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
"""Model cards are Markdown; raw HTML in them is shown as text, never rendered."""
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
"""A Hugging Face style YAML header (licence, tags) at the top of a card: for machines, not shown."""


def quality_flags(assessment: Assessment) -> list[str]:
    """What a reviewer should know about the input before trusting the result."""
    flags = []
    quality = assessment.quality
    if quality is not None and quality.face_share < LOW_FACE_SHARE:
        flags.append(f"A face was found in only {quality.face_share:.0%} of frames.")
    if quality is not None and quality.max_head_turn_deg is not None and abs(quality.max_head_turn_deg) > LARGE_HEAD_TURN_DEG:
        flags.append(f"The head turned up to {abs(quality.max_head_turn_deg):.0f}° from the camera; the model was trained on frontal faces.")
    reasons = Counter(w.reason or "not scorable" for w in assessment.windows if not w.scorable)
    flags.extend(f"{n} s could not be scored: {reason}." for reason, n in sorted(reasons.items()))
    if assessment.reliability is not None:
        flags.extend(reliability_notes(assessment.reliability, assessment.summary.scored_windows))
    elif assessment.personalised:
        flags.append("Scored against this patient's stored neutral face (personalised).")
    return flags


async def _assessment(request: Request, store: AssessmentStore, assessment_id: str) -> Assessment:
    """The signed-in tenant's assessment (another tenant's is a 404: its existence is not revealed)."""
    assessment = await store.get(assessment_id, request.user.tenant)
    if assessment is None:
        raise NotFoundException(f"no assessment {assessment_id!r}")
    return assessment


class ReviewForm(msgspec.Struct):
    """The confirm / override form as posted (empty fields are absent choices)."""

    decision: str = ""
    level: str = ""
    reason: str = ""
    comment: str = ""
    csrf: str = ""

    def request(self) -> ReviewRequest:
        return ReviewRequest(self.decision, self.level or None, self.reason or None, self.comment)


class BaselineForm(msgspec.Struct):
    """The clinician's word that the patient was at rest and free of pain throughout the clip."""

    at_rest: str = ""
    csrf: str = ""


async def _render(
    request: Request, store: AssessmentStore, flow: AssessmentFlow, plugins: Plugins, assessment: Assessment, status_code: int = 200, **form
) -> Response:
    await audit.record(store.engine, "read", "assessment", assessment.id, patient=assessment.patient)
    explained = explain(assessment)
    return page(
        request,
        "assessment.html",
        status_code=status_code,
        a=assessment,
        distribution=charts.level_distribution(assessment.windows),
        timeline=charts.probability_timeline(assessment.windows),
        flags=quality_flags(assessment),
        why=explained,
        seconds=charts.second_importance(explained.seconds),
        heatmap=Markup(svg) if (svg := explanation_svg(assessment)) else None,  # heatmap_svg escapes every value it prints
        history=await review_history(store.engine, request.user.tenant, assessment.id),
        reasons=REVIEW_REASONS,
        levels=LEVELS,
        may_review=request.user.role in REVIEWERS,
        form=form.get("form") or ReviewForm(),
        form_error=form.get("form_error"),
        reviewed=request.query_params.get("reviewed") == "1",
        offer_baseline=request.user.role in REVIEWERS and await flow.may_become_baseline(assessment),
        baseline_stored=request.query_params.get("baseline") == "stored" and await flow.baselines.get(assessment.patient, assessment.tenant) is not None,
        baseline_error=form.get("baseline_error"),
        sections=await sections_for(request, plugins, "assessment", assessment=assessment, patient=assessment.patient),
    )


@get("/assessments/{assessment_id:str}", opt=ui_opt())
async def assessment_page(
    assessment_id: FromPath[str],
    request: Request,
    store: NamedDependency[AssessmentStore],
    flow: NamedDependency[AssessmentFlow],
    plugins: NamedDependency[Plugins],
) -> Response:
    """The assessment page."""
    return await _render(request, store, flow, plugins, await _assessment(request, store, assessment_id))


@get("/assessments/{assessment_id:str}/explanation.png", opt=ui_opt(), media_type="image/png")
async def heatmap(assessment_id: FromPath[str], request: Request, store: NamedDependency[AssessmentStore]) -> Response:
    """The region occlusion heatmap on the clip's mean mesh (points and outlines, never a photograph)."""
    return Response(await explanation_png_for(store.engine, request.user.tenant, assessment_id), media_type="image/png")


@post("/assessments/{assessment_id:str}/review", opt=ui_opt(roles=REVIEWERS))
async def review(
    assessment_id: FromPath[str],
    request: Request,
    store: NamedDependency[AssessmentStore],
    flow: NamedDependency[AssessmentFlow],
    plugins: NamedDependency[Plugins],
    data: Annotated[ReviewForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response:
    """Record the clinician's confirm or override (``AssessmentFlow.review``: the FHIR Observation and
    every other destination follow), then show the page again with the review in its history."""
    assessment = await _assessment(request, store, assessment_id)
    try:
        await flow.review(request.user.tenant, assessment_id, data.request(), request.user)
    except InputError as exc:  # the form again, with the clinician's entries and what to fix
        return await _render(request, store, flow, plugins, assessment, status_code=422, form=data, form_error=exc)
    return Redirect(f"/ui/assessments/{assessment_id}?reviewed=1#history", status_code=303)


@post("/assessments/{assessment_id:str}/baseline", opt=ui_opt(roles=REVIEWERS))
async def record_baseline(
    assessment_id: FromPath[str],
    request: Request,
    store: NamedDependency[AssessmentStore],
    flow: NamedDependency[AssessmentFlow],
    plugins: NamedDependency[Plugins],
    data: Annotated[BaselineForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response:
    """Make this clip's face the patient's neutral baseline (a first visit's offer): later assessments of the
    patient are scored against it. The clinician confirms the patient was at rest and free of pain."""
    assessment = await _assessment(request, store, assessment_id)
    try:
        if data.at_rest != "yes":
            raise InputError("at_rest", "tick the box to confirm the patient was at rest and not in pain throughout this clip")
        await flow.baseline_from(assessment)
    except InputError as exc:
        return await _render(request, store, flow, plugins, assessment, status_code=422, baseline_error=exc)
    return Redirect(f"/ui/assessments/{assessment_id}?baseline=stored#quality", status_code=303)


@get("/models/{model_id:str}/card", opt=ui_opt())
async def model_card_page(model_id: FromPath[str], request: Request, plugins: NamedDependency[Plugins]) -> Response:
    """The model card (``/v1/models/{model_id}/card``) as a page."""
    if model_id not in plugins.models:
        raise NotFoundException(f"no model {model_id!r}; known: {', '.join(sorted(plugins.models))}")
    card = Markup(CARD_MARKDOWN.render(FRONT_MATTER.sub("", plugins.models[model_id].model_card(), count=1)))  # raw HTML is disabled in CARD_MARKDOWN
    return page(request, "model_card.html", model_id=model_id, card=card)


ROUTES = [assessment_page, heatmap, review, record_baseline, model_card_page]

"""Clinician review of an assessment: confirm or override, and the review history (``gateway.storage.reviews``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath

from gateway.service.flow import AssessmentFlow
from gateway.storage.reviews import REVIEW_EXAMPLE, REVIEW_REASONS, Review, ReviewRequest, review_history
from gateway.web.openapi import ok, problems

REVIEWERS = {"clinician"}
READERS = {"integrator", "telehealth", "clinician"}
TAGS = ["reviews"]
RECORDED = Review(
    "7d1e5c3a-2b4f-4a8e-9c6d-1f0a3b5e7c9d",
    "a1b2c3",
    2,
    "override",
    "significant",
    "mild",
    "patient-report",
    "Patient reports NRS 8/10.",
    "ward-7-clinician",
    datetime(2026, 11, 28, 14, 5, tzinfo=UTC),
)
NOT_REVIEWABLE = {409: ("assessment is queued; only completed assessments can be reviewed", None)}


REVIEW_DESCRIPTION = (
    "A clinician confirms the AI's level (clinical status `final`) or overrides it (`amended`, with the observed `level` and "
    f"a `reason`: {', '.join(REVIEW_REASONS)}). Append-only: a later review supersedes an earlier one. The change goes to every "
    "destination (FHIR, HL7 v2, webhooks) as `assessment.reviewed`. 404: no such assessment; 409: not completed yet."
)


@post(
    "/v1/assessments/{assessment_id:str}/review",
    opt={"roles": REVIEWERS},
    tags=TAGS,
    status_code=201,
    description=REVIEW_DESCRIPTION,
    responses=ok(Review, RECORDED, 201) | problems(400, 404, 409, 415, 422, details=NOT_REVIEWABLE),
)
async def review(
    assessment_id: FromPath[str],
    request: Request,
    flow: NamedDependency[AssessmentFlow],
    data: Annotated[ReviewRequest, Body(examples=[Example(summary="An override", value=REVIEW_EXAMPLE)])],
) -> Review:
    """Confirm or override the AI's level (clinician tokens only)."""
    if request.user.role not in REVIEWERS:  # admins may call anything else, but a clinical decision needs a clinician
        raise PermissionDeniedException(
            "only a clinician token may review an assessment; create one with 'pain-gateway tokens create --name NAME --role clinician'"
        )
    return await flow.review(request.user.tenant, assessment_id, data, request.user)


@get("/v1/assessments/{assessment_id:str}/reviews", opt={"roles": READERS}, tags=TAGS, responses=ok(list[Review], [RECORDED]) | problems(400, 404))
async def reviews(assessment_id: FromPath[str], request: Request, flow: NamedDependency[AssessmentFlow]) -> list[Review]:
    """Every review of the assessment, oldest first; the last one is in force."""
    return await review_history(flow.engine, request.user.tenant, assessment_id)


ROUTES = [review, reviews]

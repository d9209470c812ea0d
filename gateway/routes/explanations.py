"""Why the model scored an assessment as it did: JSON and a heatmap PNG (``gateway.explanations``)."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import FromPath

from gateway.explanations import EXAMPLE, AssessmentExplanation, explanation_for, explanation_png_for
from gateway.routes.assessments import READERS
from gateway.store import AssessmentStore


class Problem(msgspec.Struct):
    """RFC 9457 problem details, as ``gateway.problems`` writes them."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


NOT_FOUND = ResponseSpec(
    Problem,
    description="No such assessment for the caller's tenant, or (PNG) nothing to draw",
    media_type="application/problem+json",
    examples=[Example("not found", value={"type": "about:blank", "title": "Not found", "status": 404, "detail": "no assessment 'x'"})],
)
EXPLAINED = ResponseSpec(AssessmentExplanation, description="The explanation", examples=[Example("brow", value=msgspec.to_builtins(EXAMPLE))])
JSON_RESPONSES = {200: EXPLAINED, 404: NOT_FOUND}
PNG_RESPONSES = {404: NOT_FOUND}


@get("/v1/assessments/{assessment_id:str}/explanation", opt={"roles": READERS}, tags=["assessments"], responses=JSON_RESPONSES)
async def read_explanation(assessment_id: FromPath[str], request: Request, store: NamedDependency[AssessmentStore]) -> AssessmentExplanation:
    """Which face regions and seconds drove the score: region occlusion (primary), the model's attention
    beside it only when that model's attention passed its sanity checks, and their agreement.
    A model-internal signal, not a clinical finding."""
    return await explanation_for(store.engine, request.user.tenant, assessment_id)


@get("/v1/assessments/{assessment_id:str}/explanation.png", opt={"roles": READERS}, tags=["assessments"], media_type="image/png", responses=PNG_RESPONSES)
async def read_explanation_png(assessment_id: FromPath[str], request: Request, store: NamedDependency[AssessmentStore]) -> Response:
    """Heatmap of the occlusion importances on the clip's mean face mesh (points and region outlines,
    never a photograph), with its legend and the "not a clinical finding" notice."""
    png = await explanation_png_for(store.engine, request.user.tenant, assessment_id)
    return Response(png, media_type="image/png")


ROUTES = [read_explanation, read_explanation_png]

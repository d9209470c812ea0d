"""Why the model scored an assessment as it did: JSON and a heatmap PNG (``gateway.service.explanations``)."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from gateway.service.explanations import EXAMPLE, AssessmentExplanation, explanation_for, explanation_png_for
from gateway.storage.assessments import AssessmentStore
from gateway.web.openapi import binary, ok, problems
from gateway.web.routes.assessments import READERS

PNG_NOT_FOUND = {404: ("assessment 'a1b2c3' has no region occlusion explanation to draw (scored before it existed, or no window was scored)", None)}
JSON_RESPONSES = ok(AssessmentExplanation, EXAMPLE, description="The explanation") | problems(400, 404)
PNG_RESPONSES = binary(
    "image/png",
    "A heatmap PNG of the occlusion importances on the clip's mean face mesh, with its legend and the 'not a clinical finding' notice",
) | problems(400, 404, details=PNG_NOT_FOUND)


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

"""Record a patient's neutral-face baseline for personalised scoring."""

from __future__ import annotations

from litestar import Request, put
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency

from gateway.contract.plugin_manager import Plugins
from gateway.service.flow import AssessmentFlow
from gateway.storage import audit
from gateway.storage.baselines import reference_from_clip
from gateway.web.openapi import ok, problems
from gateway.web.routes.schemas import EXAMPLE_BASELINE, BaselineStored
from gateway.web.uploads import received


@put(
    "/v1/patients/baseline",
    opt={"roles": {"integrator", "telehealth", "clinician"}, "capture_body": "immediate"},
    tags=["patients"],
    responses=ok(BaselineStored, EXAMPLE_BASELINE) | problems(400, 413, 415, 422),
)
async def put_baseline(request: Request, plugins: NamedDependency[Plugins], flow: NamedDependency[AssessmentFlow]) -> BaselineStored:
    """Store the neutral face of a clip recorded with the patient at rest (same forms as keypoint
    submissions). Later assessments of this patient pass it to the model; models trained with
    personalisation use it and say so (``personalised: true``)."""
    async with received(request, plugins.settings) as upload:
        clip = await flow.capture_keypoints(upload.request)
        reference, frames = await sync_to_thread(reference_from_clip, clip)
    updated_at = await flow.baselines.put(clip.patient, request.user.tenant, reference, frames)
    await audit.record(flow.engine, "update", "patient_baseline", patient=clip.patient)
    return BaselineStored(clip.patient, frames, updated_at)

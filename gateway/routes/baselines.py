"""Record a patient's neutral-face baseline for personalised scoring."""

from __future__ import annotations

from litestar import Request, put
from litestar.concurrency import sync_to_thread
from litestar.di import NamedDependency

from gateway.baselines import BaselineStore, reference_from_clip
from gateway.clip_checks import check_clip
from gateway.domain import InputError
from gateway.plugins import Plugins
from gateway.uploads import received


@put("/v1/patients/baseline", opt={"roles": {"integrator", "telehealth", "clinician"}}, tags=["patients"])
async def put_baseline(request: Request, plugins: NamedDependency[Plugins], baselines: NamedDependency[BaselineStore]) -> dict:
    """Store the neutral face of a clip recorded with the patient at rest (same forms as keypoint
    submissions). Later assessments of this patient pass it to the model; models trained with
    personalisation use it and say so (``personalised: true``)."""
    async with received(request, plugins.settings) as upload:
        source = plugins.capture_source(upload.request)
        if source.deferred:
            raise InputError("content-type", "send the neutral clip as keypoints (JSON, .npy or .npz), not video")
        clip = await sync_to_thread(source.capture, upload.request)
        check_clip(clip)
        reference, frames = await sync_to_thread(reference_from_clip, clip)
    updated_at = await baselines.put(clip.patient, reference, frames)
    return {"patient": clip.patient, "frames": frames, "updated_at": updated_at.isoformat()}

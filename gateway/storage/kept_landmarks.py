"""The landmarks each assessment was scored from, kept under ``PAIN_GATEWAY_DATA_DIR/landmarks/<id>.npz``.

They outlive the video (which is deleted after extraction): clinicians review them and a site
retrains on its reviewed assessments (``gateway.service.review_export``). Landmarks, never images.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.contract.domain import LandmarkClip


@dataclass(frozen=True)
class KeptLandmarks:
    points: np.ndarray  # (frames, 468, 2|3) float32, NaN rows where no face was found
    fps: float
    image_size: tuple[int, int] | None


def path(data_dir: str, assessment_id: str) -> Path:
    return Path(data_dir) / "landmarks" / f"{assessment_id}.npz"


def keep(clip: LandmarkClip, data_dir: str, assessment_id: str) -> Path:
    target = path(data_dir, assessment_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    # a crash mid-write never leaves a truncated file under the real name, and two writers of the same
    # assessment (a retried submission scored twice at once) never share a partial file
    partial = target.with_name(f"{assessment_id}.{uuid.uuid4().hex}.partial.npz")
    # Uncompressed: zlib saves 8 % of float32 landmarks and costs 20 ms per assessment on the request path.
    np.savez(
        partial, points=clip.points.astype(np.float32), fps=clip.fps, image_size=np.array(clip.image_size or (0, 0)), captured_at=clip.captured_at.isoformat()
    )
    partial.replace(target)
    return target


def load(data_dir: str, assessment_id: str) -> KeptLandmarks | None:
    """The kept landmarks, or None when there are none (scored before they were kept, or removed)."""
    source = path(data_dir, assessment_id)
    if not source.exists():
        return None
    with np.load(source, allow_pickle=False) as npz:
        size = tuple(int(v) for v in npz["image_size"])
        return KeptLandmarks(npz["points"].astype(np.float32), float(npz["fps"]), size if all(size) else None)

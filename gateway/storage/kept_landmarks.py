"""The landmarks each assessment was scored from, kept under ``PAIN_GATEWAY_DATA_DIR/landmarks/<id>.npz``.

They outlive the video (which is deleted after extraction): clinicians review them and a site
retrains on its reviewed assessments (``gateway.service.review_export``). Landmarks, never images.

Stored as the client sent them, at the clip's own frame count, losslessly (float32), but only the
frames with a face and their indices in the clip (``frames``), the float32 values split into byte
planes (``shuffled``: exponents beside exponents, so zlib finds them) and zlib-compressed
(``np.savez_compressed``): a live session's 30 fps grid is mostly empty slots, and a long constant or
slowly moving clip compresses to a fraction. Files written before (one uncompressed ``points``
array with NaN rows) are still read. Writing runs where the clip was scored (the scoring process
under ``pain-gateway serve``), never on the event loop. Each file's size is recorded with its
assessment (``record``): a tenant's storage is ``used_bytes``, bounded by
``PAIN_GATEWAY_TENANT_MAX_STORAGE_MB``; ``PAIN_GATEWAY_RETENTION_DAYS`` removes old files
(``gateway.service.retention``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.contract.domain import LandmarkClip
from gateway.storage.tables import KeptLandmarksRow

FORMAT = 2
"""1 (implicit): ``points`` holds every frame, NaN rows without a face, uncompressed. 2: face frames only,
byte planes, compressed."""


@dataclass(frozen=True)
class KeptLandmarks:
    points: np.ndarray  # (frames, 468, 2|3) float32, NaN rows where no face was found
    fps: float
    image_size: tuple[int, int] | None


def path(data_dir: str, assessment_id: str) -> Path:
    return Path(data_dir) / "landmarks" / f"{assessment_id}.npz"


def keep(clip: LandmarkClip, data_dir: str, assessment_id: str) -> int:
    """Write the clip's landmarks for ``assessment_id``; the file's size in bytes."""
    target = path(data_dir, assessment_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    points = np.asarray(clip.points, dtype=np.float32)
    face = np.isfinite(points.reshape(len(points), -1)).any(axis=1)
    # a crash mid-write never leaves a truncated file under the real name, and two writers of the same
    # assessment (a retried submission scored twice at once) never share a partial file
    partial = target.with_name(f"{assessment_id}.{uuid.uuid4().hex}.partial.npz")
    np.savez_compressed(
        partial,
        format=FORMAT,
        shuffled=points[face].view(np.uint8).reshape(-1, 4).T.copy(),
        shape=np.array(points[face].shape),
        frames=np.flatnonzero(face).astype(np.int32),
        frame_count=len(points),
        fps=clip.fps,
        image_size=np.array(clip.image_size or (0, 0)),
        captured_at=clip.captured_at.isoformat(),
    )
    size = partial.stat().st_size
    partial.replace(target)
    return size


def load(data_dir: str, assessment_id: str) -> KeptLandmarks | None:
    """The kept landmarks, or None when there are none (scored before they were kept, or removed)."""
    source = path(data_dir, assessment_id)
    try:
        npz = np.load(source, allow_pickle=False)
    except FileNotFoundError:
        return None
    with npz:
        size = tuple(int(v) for v in npz["image_size"])
        if "frames" in npz.files:  # format 2: the face frames at their indices, the rest NaN
            shape = tuple(int(v) for v in npz["shape"])
            stored = np.ascontiguousarray(npz["shuffled"].T).view(np.float32).reshape(shape)
            points = np.full((int(npz["frame_count"]), *shape[1:]), np.nan, dtype=np.float32)
            points[npz["frames"]] = stored
        else:
            points = npz["points"].astype(np.float32)
        return KeptLandmarks(points, float(npz["fps"]), size if all(size) else None)


def remove(data_dir: str, assessment_id: str) -> int:
    """Delete the assessment's kept landmarks; the bytes freed (0 when there was no file)."""
    source = path(data_dir, assessment_id)
    try:
        size = source.stat().st_size
        source.unlink()
    except FileNotFoundError:
        return 0
    return size


async def record(connection: AsyncConnection, tenant: str, assessment_id: str, size: int, kept_at: datetime) -> None:
    """Account the file in the transaction storing its assessment (once: a duplicate is not stored again)."""
    await connection.execute(insert(KeptLandmarksRow).values(assessment_id=assessment_id, tenant=tenant, bytes=size, kept_at=kept_at))


async def used_bytes(engine: AsyncEngine, tenant: str) -> int:
    """The tenant's kept landmarks on disk, as recorded (files kept before accounting began are not counted)."""
    query = select(func.coalesce(func.sum(KeptLandmarksRow.bytes), 0)).where(KeptLandmarksRow.tenant == tenant, KeptLandmarksRow.removed_at.is_(None))
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())

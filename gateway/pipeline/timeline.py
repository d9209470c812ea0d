"""Frames stamped with capture times → the model's 30 fps grid.

A live client sends frames when it can (6 fps with software GL, 30 with a GPU), with jitter. Each grid
slot takes the linear interpolation of the face frames before and after it, as uploads are resampled
and gap-filled (``gateway.pipeline.landmarks``): when those two frames are further apart than a bridged gap
(``max_gap_frames`` + 1 model frames), or on either side there is none, the slot has no face (NaN).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.contract.domain import MODEL_FPS

EXACT_MS = 0.5
"""A frame this close to a slot is the slot's frame (capture times are floats: 149 / 30 s is not 29 / 30 s after 4 s)."""


def to_grid(times_ms: NDArray[Any], points: NDArray[Any], start_ms: float, count: int, max_gap_frames: int) -> NDArray[np.float32]:
    """``times_ms`` (n,) ascending and ``points`` (n, 468, 2) of face frames → (count, 468, 2) float32
    at ``start_ms + i / 30 s``, NaN where no face can be interpolated."""
    out = np.full((count, *points.shape[1:]), np.nan, dtype=np.float32)
    if len(times_ms) == 0 or count <= 0:
        return out
    slots = start_ms + np.arange(count) * (1000.0 / MODEL_FPS)
    after = np.searchsorted(times_ms, slots, side="left")  # first frame at or after the slot
    exact = (after < len(times_ms)) & (np.abs(times_ms[np.minimum(after, len(times_ms) - 1)] - slots) < EXACT_MS)
    before = after - 1
    bracketed = (before >= 0) & (after < len(times_ms))
    lo, hi = np.clip(before, 0, None), np.minimum(after, len(times_ms) - 1)
    span = times_ms[hi] - times_ms[lo]
    bracketed &= span <= (max_gap_frames + 1) * 1000.0 / MODEL_FPS + 1e-6
    if exact.any():
        out[exact] = points[after[exact]]
    take = bracketed & ~exact
    if take.any():
        w = ((slots[take] - times_ms[lo[take]]) / span[take])[:, None, None]
        out[take] = points[lo[take]] + w * (points[hi[take]] - points[lo[take]])
    return out

"""Checks every landmark clip must pass, whichever capture source produced it."""

from __future__ import annotations

import numpy as np

from gateway.domain import LANDMARK_COUNT, WINDOW_FRAMES, InputError, LandmarkClip

FPS_RANGE = (5.0, 120.0)


def check_clip(clip: LandmarkClip) -> None:
    """Raise ``InputError`` naming the field when a clip cannot be scored as submitted."""
    points = clip.points
    if not FPS_RANGE[0] <= clip.fps <= FPS_RANGE[1]:
        raise InputError("fps", f"must be between {FPS_RANGE[0]:g} and {FPS_RANGE[1]:g} frames per second, got {clip.fps:g}")
    if points.ndim != 3 or points.shape[1] != LANDMARK_COUNT or points.shape[2] not in (2, 3):
        raise InputError(
            "frames",
            f"expected shape (frames, {LANDMARK_COUNT}, 2 or 3) — {LANDMARK_COUNT} Face Mesh landmarks of [x, y] or "
            f"[x, y, z] per frame — got {tuple(points.shape)}",
        )
    face = ~np.isnan(points).all(axis=(1, 2))
    partial = np.isnan(points[face]).any(axis=(1, 2))
    if partial.any():
        first = int(np.flatnonzero(face)[np.argmax(partial)])
        raise InputError("frames", f"frame {first} has missing coordinates; send null for a whole frame without a face")
    if not np.isfinite(points[face]).all():
        first = int(np.flatnonzero(face)[np.argmax(~np.isfinite(points[face]).all(axis=(1, 2)))])
        raise InputError("frames", f"frame {first} contains an infinite coordinate; coordinates must be finite numbers")
    usable = int(face.sum())
    if usable < WINDOW_FRAMES:
        raise InputError(
            "frames",
            f"only {usable} frames contain a face; at least {WINDOW_FRAMES} are needed to score one window",
        )
    if clip.duration_s < 1.0:
        raise InputError("frames", f"clip lasts {clip.duration_s:.2f} s at {clip.fps:g} fps; at least 1 second is needed")
    if clip.image_size is not None and (len(clip.image_size) != 2 or min(clip.image_size) <= 0):
        raise InputError("image_size", "must be [width, height] in pixels, both positive")

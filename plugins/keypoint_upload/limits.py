"""The keypoint plugin's settings: how much one submission may hold, checked before it is allocated."""

from __future__ import annotations

from typing import Annotated

import msgspec

from gateway import LANDMARK_COUNT, InputError

PREFIX = "PAIN_GATEWAY_PLUGIN_KEYPOINT_UPLOAD_"


class KeypointLimits(msgspec.Struct, forbid_unknown_fields=True):
    """``[plugins.keypoint_upload]`` / ``PAIN_GATEWAY_PLUGIN_KEYPOINT_UPLOAD_*``.

    Defaults: 10 minutes and 18,000 frames (10 min at 30 fps) per clip; a (18000, 468, 3) float64
    array is 202 MB. JSON is held whole while it is parsed, so it has its own cap below the upload
    limit: 64 MB is ~3 minutes of x, y, z with 6 decimals (~6 of x, y); longer clips go as .npy/.npz,
    which is 3-4x smaller.
    """

    max_frames: Annotated[int, msgspec.Meta(ge=30, le=1_000_000)] = 18_000
    max_duration_s: Annotated[float, msgspec.Meta(ge=1, le=86_400)] = 600.0
    max_json_mb: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 64

    def check_frames(self, frames: int, fps: float, field: str) -> None:
        """Refuse a clip with more frames, or a longer duration at ``fps``, than the limits allow."""
        if frames > self.max_frames:
            raise InputError(
                field,
                f"clip has {frames} frames; at most {self.max_frames} are accepted ({PREFIX}MAX_FRAMES); send a shorter clip",
            )
        if fps > 0 and frames / fps > self.max_duration_s:
            raise InputError(
                field,
                f"clip lasts {frames / fps:.1f} s ({frames} frames at {fps:g} fps); at most {self.max_duration_s:g} s are accepted "
                f"({PREFIX}MAX_DURATION_S); send a shorter clip",
            )

    def max_array_bytes(self, fps: float) -> int:
        """The largest points array (float64, x, y, z) a clip within the limits can hold."""
        frames = self.max_frames if fps <= 0 else min(self.max_frames, int(self.max_duration_s * fps) + 1)
        return frames * LANDMARK_COUNT * 3 * 8

    def describe(self) -> str:
        return f"{self.max_frames} frames, {self.max_duration_s:g} s: {PREFIX}MAX_FRAMES, {PREFIX}MAX_DURATION_S"

"""The capture source of finished live sessions: the 30 fps grid ``plugins.live_stream.registry`` built.

Only the gateway builds these requests (``as_request``); HTTP uploads never carry the ``session``
field, so no client can submit one. Everything is still checked: shape from the declared frame count,
then ``check_clip`` in the flow.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
import numpy as np

from gateway import LANDMARK_COUNT, CaptureRequest, InputError, LandmarkClip, PatientRef
from plugins.live_stream.registry import MEDIA_TYPE
from plugins.live_stream.settings import PLUGIN, LiveSettings


class LiveStreamSource:
    name = PLUGIN
    deferred = False

    def __init__(self, settings: LiveSettings) -> None:
        self.settings = settings

    def accepts(self, request: CaptureRequest) -> bool:
        return request.media_type == MEDIA_TYPE and "session" in request.fields

    def check(self, request: CaptureRequest) -> None:
        """Captured at once, in the request; nothing to check ahead."""

    def capture(self, request: CaptureRequest, progress=None) -> LandmarkClip:
        fields = request.fields
        frames = int(fields["frames"])
        if len(request.body) != frames * LANDMARK_COUNT * 2 * 4:
            raise InputError("frames", f"a live session of {frames} frames must hold {frames} x {LANDMARK_COUNT} x 2 float32")
        points = np.frombuffer(request.body, dtype="<f4").reshape(frames, LANDMARK_COUNT, 2)
        size = tuple(int(v) for v in fields["image_size"].split(",")) if fields.get("image_size") else None
        return LandmarkClip(
            msgspec.json.decode(fields["patient"], type=PatientRef),
            datetime.fromisoformat(fields["captured_at"]),
            float(fields["fps"]),
            points,
            size,
            source=PLUGIN,
        )

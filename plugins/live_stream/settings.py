"""``[plugins.live_stream]`` / ``PAIN_GATEWAY_PLUGIN_LIVE_STREAM_*``: the bounds of live sessions."""

from __future__ import annotations

from typing import Annotated

import msgspec

from plugins.live_stream.session import LiveLimits

PLUGIN = "live_stream"
PREFIX = "PAIN_GATEWAY_PLUGIN_LIVE_STREAM_"


class LiveSettings(msgspec.Struct, forbid_unknown_fields=True):
    """Defaults: 9,000 frames a session (5 min at 30 fps, 25 at 6; x, y float32 is 34 MB at most) spanning at
    most 600 s of capture time (its 30 fps assessment grid is then 67 MB at most), 20 open
    sessions a tenant, windows scored from 15 frames with a face in 80 %, tickets valid 60 s, the seconds of up to 64
    sessions scored in one model call."""

    ticket_ttl_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    max_sessions_per_tenant: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 20
    max_session_frames: Annotated[int, msgspec.Meta(ge=30, le=1_000_000)] = 9000
    max_session_s: Annotated[float, msgspec.Meta(gt=1, le=86_400)] = 600.0
    max_window_frames: Annotated[int, msgspec.Meta(ge=30, le=1000)] = 120
    min_window_frames: Annotated[int, msgspec.Meta(ge=2, le=120)] = 15
    min_face_share: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.8
    idle_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    send_queue: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 8
    max_errors: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    score_batch: Annotated[int, msgspec.Meta(ge=1, le=512)] = 64
    """At most this many sessions' closed seconds scored in one model call (1: each alone, as before batching)."""

    def limits(self, max_gap_frames: int) -> LiveLimits:
        return LiveLimits(
            self.max_session_frames, self.max_session_s, self.max_window_frames, self.min_window_frames, self.min_face_share, max_gap_frames, PREFIX
        )

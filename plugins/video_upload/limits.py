"""The video plugin's settings: how long, how many frames and how large a video may be.

Checked twice: against what the container declares, before the first frame is decoded (so an upload
that exceeds them is refused at submission), and against what decoding actually finds, because a
container can understate its length (two frames an hour apart in a file that claims two seconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec

from gateway import InputError

if TYPE_CHECKING:
    from plugins.video_upload.decode import VideoInfo

PREFIX = "PAIN_GATEWAY_PLUGIN_VIDEO_UPLOAD_"


class VideoLimits(msgspec.Struct, forbid_unknown_fields=True):
    """``[plugins.video_upload]`` / ``PAIN_GATEWAY_PLUGIN_VIDEO_UPLOAD_*``.

    Defaults: 10 minutes; 72,000 source frames (10 minutes at 120 fps); 4096 pixels on either side
    (a 4096x4096 RGB frame is 48 MB and at most three are held; 8192x8192 would be four times that).
    """

    max_duration_s: Annotated[float, msgspec.Meta(ge=1, le=86_400)] = 600.0
    max_frames: Annotated[int, msgspec.Meta(ge=30, le=10_000_000)] = 72_000
    max_side_px: Annotated[int, msgspec.Meta(ge=64, le=16_384)] = 4096

    def check_info(self, info: VideoInfo) -> None:
        """What the container declares, before decoding."""
        self.check_size(info.width, info.height)
        if info.duration_s > self.max_duration_s:
            raise InputError(
                "video",
                f"video lasts {info.duration_s:.1f} s; at most {self.max_duration_s:g} s are accepted ({PREFIX}MAX_DURATION_S); send a shorter clip",
            )
        if info.frame_count > self.max_frames:
            raise InputError(
                "video",
                f"video has {info.frame_count} frames; at most {self.max_frames} are accepted ({PREFIX}MAX_FRAMES); send a shorter clip",
            )

    def check_size(self, width: int, height: int) -> None:
        if max(width, height) > self.max_side_px:
            raise InputError(
                "video",
                f"video is {width}x{height} pixels; at most {self.max_side_px} pixels a side are accepted ({PREFIX}MAX_SIDE_PX); "
                "record or export at 1080p or less",
            )

    def check_decoded(self, frames: int, t: float) -> None:
        """What decoding has found so far: the ``frames``-th frame, shown at ``t`` seconds."""
        if t > self.max_duration_s:
            raise InputError(
                "video",
                f"video runs past {self.max_duration_s:g} s (a frame at {t:.1f} s) although its container declares less; "
                f"at most {self.max_duration_s:g} s are accepted ({PREFIX}MAX_DURATION_S)",
            )
        if frames > self.max_frames:
            raise InputError(
                "video",
                f"video holds more than {self.max_frames} frames although its container declares fewer; "
                f"at most {self.max_frames} are accepted ({PREFIX}MAX_FRAMES)",
            )

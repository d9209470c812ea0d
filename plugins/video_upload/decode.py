"""Video decoding for uploads: container check, probe, and frames on the model's 30 fps timeline.

Decodes with the OpenCV wheel that mediapipe already brings (FFmpeg inside: H.264, HEVC, MPEG-4,
VP8/VP9, AV1 and MJPEG decoders; MP4/MOV, WebM/Matroska and AVI containers), so video needs no extra
dependency. Two OpenCV defaults are wrong for uploads and are overridden here:

- rotation: phones store portrait video as landscape pixels plus a display-matrix tag. This OpenCV
  build does *not* apply the tag by default (``CAP_PROP_ORIENTATION_AUTO`` reads 0), so faces would
  reach MediaPipe lying on their side; we switch it on, and width/height are then reported rotated.
- timing: frames are placed by their own presentation time (``CAP_PROP_POS_MSEC``), not their index,
  so variable-frame-rate phone video keeps real time on the 30 fps timeline the model expects.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gateway import MODEL_FPS, InputError, UnsupportedMediaError, native_stderr_captured
from plugins.video_upload.limits import VideoLimits

SNIFF_BYTES = 64
"""How many leading bytes ``sniff_container`` needs (an upload's first chunk is always enough)."""

_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
"""Box types that open an ISO base-media file (MP4, MOV, 3GP); old QuickTime files have no ``ftyp``."""

_CODECS = {"fmp4": "mpeg4", "mp4v": "mpeg4", "xvid": "mpeg4", "divx": "mpeg4", "avc1": "h264", "h264": "h264",
           "hev1": "hevc", "hvc1": "hevc", "hevc": "hevc", "vp80": "vp8", "vp90": "vp9", "av01": "av1",
           "mjpg": "mjpeg"}  # fmt: skip
"""FourCC as OpenCV reports it -> codec name."""

TRUNCATION_TOLERANCE_S = 0.5
"""Decoded video may fall short of the container's duration by this (or 5 %) before we call it cut."""

_TIE = 0.05
"""Times within this fraction of a slot (1.7 ms at 30 fps) of a tie count as the tie, because containers
often round timestamps to the millisecond. Ties go to the earlier frame: a frame on a half slot takes
the earlier slot (so 60 fps keeps frames 0, 2, 4, ...) and a gap slot halfway between two frames
repeats the earlier one (so 15 fps yields each frame twice)."""

_NO_FRAMES = "the file holds no decodable video frames (truncated or corrupt)"

MAX_HOLD_S = 1.0
"""A decoded frame stands in for timeline slots at most this far from its own time. Slots farther from
any frame (a stalled camera, or a forged file whose two frames are an hour apart) have no picture: they
come out as ``None`` (no face), never as a still image repeated for minutes and scored as a face."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the video stream; width and height are after rotation."""

    container: str
    codec: str
    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    rotation_deg: int


def sniff_container(head: bytes) -> str | None:
    """``"mp4"``, ``"mov"``, ``"webm"``, ``"matroska"`` or ``"avi"`` from a file's first bytes; None if none.

    Decides 415 (not a video at all) apart from 422 (a video we cannot read), before FFmpeg guesses.
    """
    if head[4:8] in _ISO_BOXES:
        return "mov" if head[4:8] != b"ftyp" or head[8:12] == b"qt  " else "mp4"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "webm" if b"webm" in head[:SNIFF_BYTES] else "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def _open(path: Path) -> tuple[cv2.VideoCapture, VideoInfo]:
    """Open the file (callers hold ``native_stderr_captured``: FFmpeg and OpenCV complain on fd 2)."""
    with open(path, "rb") as f:
        container = sniff_container(f.read(SNIFF_BYTES))
    if container is None:
        raise UnsupportedMediaError("video", "not a video file; send MP4, MOV, WebM/Matroska or AVI")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise InputError(
            "video",
            f"this {container.upper()} file cannot be read: it is truncated or corrupt "
            "(e.g. an upload cut short, so the MP4 index 'moov' is missing) or has no video stream",
        )
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1").strip("\0 ").lower()
    fps = cap.get(cv2.CAP_PROP_FPS)
    frame_count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
    info = VideoInfo(
        container=container,
        codec=_CODECS.get(fourcc, fourcc),
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        fps=fps,
        frame_count=frame_count,
        duration_s=frame_count / fps if fps > 0 else 0.0,
        rotation_deg=int(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360,
    )
    return cap, info


def probe(path: Path | str, limits: VideoLimits | None = None) -> VideoInfo:
    """Container facts, after checking that the first frame decodes (cheap enough to run at upload).

    Raises ``UnsupportedMediaError`` for a file that is no video container, ``InputError`` for one
    that cannot be opened, exceeds ``limits`` by what its container declares (checked before the
    first frame is decoded) or decodes no frame. A file cut in the middle of its frames, or one whose
    container understates its length, is only found by ``iter_frames``, which has to read to the end.
    """
    with native_stderr_captured():
        cap, info = _open(Path(path))
        try:
            (limits or VideoLimits()).check_info(info)
            if not cap.grab():
                raise InputError("video", _NO_FRAMES)
            return info
        finally:
            cap.release()


def iter_frames(path: Path | str, target_fps: float = MODEL_FPS, limits: VideoLimits | None = None) -> Iterator[tuple[int, np.ndarray | None]]:
    """Yield ``(k, rgb)`` for k = 0, 1, 2, ... on a ``target_fps`` timeline: RGB uint8, upright.

    Each decoded frame lands on the slot nearest its presentation time ``t`` (relative to the first
    frame). A frame whose slot is already taken is dropped before colour conversion (60 fps keeps
    every other frame); slots that a slow or stalled stretch skips are filled by repeating the nearer
    of the two neighbouring frames (15 fps yields each frame twice), so no slot shows a frame more
    than half the gap around it away. Repeats are the *same* array object, so consumers can skip
    work on them and must not modify frames. After the last frame the timeline runs on for that
    frame's duration, so ``k`` ends near duration x ``target_fps``. A timestamp that does not
    increase is replaced by the previous one plus one nominal frame interval.

    Slots more than ``MAX_HOLD_S`` from the frame that would fill them yield ``None`` (no picture).

    At most two decoded frames are held at a time. Raises as ``probe`` does; also ``InputError``
    once the frames run out well before the container's stated duration (a file cut short), or
    as soon as the frames decoded exceed ``limits`` (duration, count, size) whatever the container
    declared, so read to the end before trusting the frames.
    """
    limits = limits or VideoLimits()
    with native_stderr_captured():
        yield from _frames(path, target_fps, limits)


def _frames(path: Path | str, target_fps: float, limits: VideoLimits) -> Iterator[tuple[int, np.ndarray | None]]:
    cap, info = _open(Path(path))
    nominal_dt = 1.0 / info.fps if info.fps > 0 else 1.0 / target_fps
    try:
        limits.check_info(info)
        frame = held = None
        t0 = prev_t = held_t = frame_t = None
        next_slot = grabbed = 0
        while cap.grab():
            grabbed += 1
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            t0 = t if t0 is None else t0
            t -= t0
            if prev_t is not None and t <= prev_t:
                t = prev_t + nominal_dt
            limits.check_decoded(grabbed, t)
            slot = math.ceil(t * target_fps - 0.5 - _TIE)
            if slot >= next_slot:
                ok, bgr = cap.retrieve()
                if not ok:
                    break
                limits.check_size(bgr.shape[1], bgr.shape[0])
                held, held_t = frame, frame_t
                frame, frame_t = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), t
                midpoint = (prev_t + t) / 2 * target_fps + _TIE if prev_t is not None else -1.0
                for k in range(next_slot, slot + 1):
                    source, source_t = (held, held_t) if k <= midpoint else (frame, t)
                    yield k, (source if abs(k / target_fps - source_t) <= MAX_HOLD_S else None)
                held = None
                next_slot = slot + 1
            last_dt = t - prev_t if prev_t is not None else nominal_dt
            prev_t = t
        if frame is None:
            raise InputError("video", _NO_FRAMES)
        end_s = prev_t + min(last_dt, MAX_HOLD_S)
        for k in range(next_slot, math.floor(end_s * target_fps + 0.5)):
            yield k, frame
        if end_s < info.duration_s - max(TRUNCATION_TOLERANCE_S, 0.05 * info.duration_s):
            raise InputError(
                "video",
                f"video data ends after {end_s:.1f} s of the {info.duration_s:.1f} s the file declares: it is truncated or corrupt",
            )
    finally:
        cap.release()

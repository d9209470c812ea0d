"""Short, real encoded test videos made from skimage's astronaut photo (public domain, bundled offline).

OpenCV writes MPEG-4 part 2 (MP4/MOV), VP8/VP9 (WebM) and MJPEG (AVI); its wheel has no H.264
encoder, so H.264 and variable-frame-rate files are written with PyAV (``av``, test dependency), whose
wheel bundles libx264 and takes a timestamp per frame. Rotation is a display-matrix tag in the MP4
track header, written by patching the bytes the same way a phone does for portrait video.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from itertools import chain
from pathlib import Path

import cv2
import numpy as np
from skimage import data

FACE_CENTRE = (225.0, 125.0)
"""Centre of the astronaut's face in the 512x512 photo."""

OPENCV_FOURCCS = {"mp4v", "VP80", "VP90", "MJPG"}
"""Codecs OpenCV's bundled FFmpeg can encode; anything else goes through PyAV."""

VFR_MARK_STEP = 6


def face_frames(count: int, fps: float, size: tuple[int, int], yaw_deg: float = 0.0) -> Iterator[np.ndarray]:
    """RGB frames of the astronaut's face filling ~half the frame height, drifting, rolling and zooming.

    ``yaw_deg`` squeezes the photo horizontally (cos yaw) as a crude head turn; the motion is smooth
    and slow enough (1 cycle per 2 s) for MediaPipe's tracker, like a patient on a webcam.
    """
    image = data.astronaut()
    w, h = size
    scale = 1.8 * h / 480
    for t in np.arange(count) / fps:
        phase = np.pi * t
        m = cv2.getRotationMatrix2D(FACE_CENTRE, 5 * np.sin(phase), scale * (1 + 0.04 * np.sin(2 * phase)))
        m[0, :2] *= np.cos(np.radians(yaw_deg))
        target = (w / 2 + 0.03 * w * np.cos(phase), h / 2 + 0.02 * h * np.sin(phase))
        m[:, 2] = target - m[:, :2] @ FACE_CENTRE
        yield cv2.warpAffine(image, m, size, borderMode=cv2.BORDER_REFLECT)


def faceless_frames(count: int, fps: float, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """The photo's lower-right corner (flag and shuttle, no face) panning slowly: real texture, no face."""
    scene = cv2.resize(data.astronaut()[280:, 280:], (size[0] * 2, size[1] * 2))
    for t in np.arange(count) / fps:
        x, y = int(size[0] * 0.5 * (1 + np.sin(t))), int(size[1] * 0.5 * (1 + np.cos(t)) / 2)
        yield np.ascontiguousarray(scene[y : y + size[1], x : x + size[0]])


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    fps: float,
    fourcc: str = "mp4v",
    timestamps_s: Sequence[float] | None = None,
) -> Path:
    """Encode RGB frames to ``path``; the container follows the suffix.

    OpenCV for ``OPENCV_FOURCCS`` at a constant rate; PyAV otherwise (``"avc1"`` is H.264) and whenever
    ``timestamps_s`` gives each frame its own presentation time (variable frame rate).
    """
    path = Path(path)
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    if fourcc in OPENCV_FOURCCS and timestamps_s is None:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {fourcc} to {path.suffix}")
        for frame in chain([first], frames):
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
        return path
    import av

    codec = {"avc1": "libx264", "VP80": "libvpx", "VP90": "libvpx-vp9", "mp4v": "mpeg4"}[fourcc]
    time_base = Fraction(1, 1000)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = stream.codec_context.time_base = time_base
        for i, frame in enumerate(chain([first], frames)):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            seconds = timestamps_s[i] if timestamps_s is not None else i / fps
            video_frame.pts, video_frame.time_base = round(seconds * 1000), time_base
            out.mux(stream.encode(video_frame))
        out.mux(stream.encode())
    return path


def face_video(path: Path, seconds: float = 2.0, fps: float = 30, size: tuple[int, int] = (640, 480), fourcc: str = "mp4v") -> Path:
    """A moving real face for ``seconds`` at a constant ``fps``."""
    return write_video(path, face_frames(round(seconds * fps), fps, size), fps, fourcc)


def faceless_video(path: Path, seconds: float = 2.0, fps: float = 30, size: tuple[int, int] = (640, 480), fourcc: str = "mp4v") -> Path:
    """Real photographic texture in motion, but no face anywhere."""
    return write_video(path, faceless_frames(round(seconds * fps), fps, size), fps, fourcc)


def vfr_face_video(path: Path, timestamps_s: Sequence[float], size: tuple[int, int] = (320, 240)) -> Path:
    """H.264 MP4 with one presentation time per frame (e.g. a phone dropping to 15 fps in low light).

    Frame ``i`` carries grey level ``VFR_MARK_STEP * i`` in its top-left 32x32 block so a test can
    tell which source frame landed where on the 30 fps timeline (``vfr_marks``); at most 42 frames.
    """

    def frames() -> Iterator[np.ndarray]:
        for i, frame in enumerate(face_frames(len(timestamps_s), 30, size)):
            frame[:32, :32] = VFR_MARK_STEP * i
            yield frame

    return write_video(path, frames(), 30, "avc1", timestamps_s)


def vfr_mark(frame: np.ndarray) -> int:
    """Which source frame of ``vfr_face_video`` this decoded frame is."""
    return round(float(frame[8:24, 8:24].mean()) / VFR_MARK_STEP)


def set_rotation(path: Path, degrees: int) -> Path:
    """Tag an MP4/MOV so players rotate it clockwise by ``degrees`` (90, 180, 270), in place.

    Rewrites the 3x3 display matrix in the video track's ``tkhd`` box, which is where phones record
    portrait orientation; the encoded pixels stay as they are.
    """
    blob = bytearray(Path(path).read_bytes())
    at = blob.index(b"tkhd")
    version = blob[at + 4]
    matrix_at = at + 8 + (32 if version == 1 else 20) + 16  # times, ids, duration; reserved, layer, volume
    width, height = (v >> 16 for v in struct.unpack(">II", blob[matrix_at + 36 : matrix_at + 44]))
    one = 1 << 16
    cos, sin = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]
    tx, ty = {0: (0, 0), 90: (height, 0), 180: (width, height), 270: (0, width)}[degrees]
    blob[matrix_at : matrix_at + 36] = struct.pack(">9i", cos * one, sin * one, 0, -sin * one, cos * one, 0, tx * one, ty * one, 1 << 30)
    Path(path).write_bytes(blob)
    return Path(path)


def truncated_copy(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of ``src``'s bytes, as an interrupted upload or copy leaves a file."""
    blob = Path(src).read_bytes()
    Path(dst).write_bytes(blob[: int(len(blob) * fraction)])
    return Path(dst)


def not_a_video(path: Path) -> Path:
    """A text file, typically saved under a video name such as ``notes.mp4``."""
    Path(path).write_text("Patient notes: not a video.\n" * 40)
    return Path(path)


def write_y4m(path: Path, frames: Iterable[np.ndarray], fps: int) -> Path:
    """Raw YUV 4:2:0 frames in a YUV4MPEG2 file: what Chromium's fake camera plays (and loops).

    Written with OpenCV's colour conversion alone, so no ffmpeg is needed; ``face_frames`` at 30 fps
    for 2 s loops without a jump (its motion repeats every 2 s).
    """
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    with Path(path).open("wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in chain([first], frames):
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return Path(path)

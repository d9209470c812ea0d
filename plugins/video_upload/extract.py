"""Video file to Face Mesh landmarks on the model's 30 fps timeline, streamed frame by frame.

Memory stays bounded by two decoded frames plus the landmarks themselves (5.6 KB per timeline frame,
about 10 MB per minute of video), whatever the video's length or resolution; the timeline is capped
at the ``video_upload`` plugin's ``max_duration_s`` (``limits.VideoLimits``), so the landmarks are too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from gateway import LANDMARK_COUNT, MODEL_FPS, FaceMeshTracker, LandmarkClip, PatientRef
from plugins.video_upload.decode import MAX_HOLD_S, VideoInfo, iter_frames, probe
from plugins.video_upload.limits import VideoLimits

DEFAULT_MAX_SIDE = 1280
"""Frames longer than this on their long side are shrunk before Face Mesh (1080p/4K -> 1280 px).

MediaPipe crops and resizes the face to 192x192 itself, so resolution mostly costs copying the frame
into its graph. Measured on 2 shared cores: 720p shrunk to 640 px saved nothing (the resize ate the
gain: ~5.7 ms/frame either way), 1080p shrunk to 960 px took ~5.6 instead of ~6.2 ms; landmarks move
< 0.5 % of the frame and no face is lost (tests). So only frames above 720p are shrunk.
"""

PROGRESS_INTERVAL_S = 0.1
"""``progress`` is called at most this often (plus once with 1.0 at the end)."""


@dataclass(frozen=True)
class VideoLandmarks:
    """Face Mesh output for a whole video on the 30 fps timeline.

    ``points`` is (F, 468, 3) float32 in MediaPipe's normalised coordinates, NaN rows where no face was
    found; ``image_size`` is (width, height) of the upright frames (after rotation, before any
    shrinking, which does not change normalised coordinates). ``frames_decoded`` counts the distinct
    source frames that went through Face Mesh; ``face_frames`` the timeline frames with a face.
    """

    points: np.ndarray
    fps: float
    image_size: tuple[int, int]
    frames_decoded: int
    face_frames: int
    info: VideoInfo

    def to_clip(self, patient: PatientRef, captured_at: datetime) -> LandmarkClip:
        """The clip the keypoint path would have produced, so scoring is shared from here on."""
        return LandmarkClip(
            patient=patient,
            captured_at=captured_at,
            fps=self.fps,
            points=self.points,
            image_size=self.image_size,
            source="video",
        )


def extract_landmarks(
    path: Path | str,
    progress: Callable[[float], None] | None = None,
    max_side: int | None = DEFAULT_MAX_SIDE,
    limits: VideoLimits | None = None,
) -> VideoLandmarks:
    """Decode ``path`` and run one Face Mesh tracker (tracking mode, one face) over every timeline frame.

    A timeline frame that repeats the previous source frame (low or variable frame rate) copies its
    landmarks instead of running Face Mesh again. ``progress`` gets the fraction of the declared
    duration done (0..1, never decreasing; exceptions it raises abort the extraction). Raises what
    ``decode.iter_frames`` raises for unreadable input or input beyond ``limits``; shrinks frames
    longer than ``max_side``. Timeline slots without a picture (``None``) get NaN rows: no face.
    """
    limits = limits or VideoLimits()
    info = probe(path, limits)
    cap = int((limits.max_duration_s + MAX_HOLD_S) * MODEL_FPS) + 2  # iter_frames ends the timeline by then
    expected = max(round(info.duration_s * MODEL_FPS), 1)
    points = np.empty((min(expected + 1, cap), LANDMARK_COUNT, 3), dtype=np.float32)
    image_size = (info.width, info.height)
    last_frame, last_report, decoded = None, time.monotonic(), 0
    with FaceMeshTracker() as tracker:
        for k, frame in iter_frames(path, MODEL_FPS, limits):
            if k >= len(points):  # the declared duration was short: grow geometrically, up to the cap
                points = np.concatenate([points, np.empty((min(len(points), cap - len(points)), *points.shape[1:]), np.float32)])
            if frame is None:
                points[k] = np.nan
                last_frame = None
                continue
            if frame is last_frame:
                points[k] = points[k - 1]
                continue
            last_frame, decoded = frame, decoded + 1
            image_size = (frame.shape[1], frame.shape[0])
            points[k] = tracker.process(_shrink(frame, max_side))
            if progress is not None and time.monotonic() - last_report >= PROGRESS_INTERVAL_S:
                last_report = time.monotonic()
                progress(min(k / expected, 0.99))
    points = points[: k + 1].copy() if points.shape[0] > 1.05 * (k + 1) + 30 else points[: k + 1]  # no second copy for a row or two
    if progress is not None:
        progress(1.0)
    return VideoLandmarks(
        points=points,
        fps=MODEL_FPS,
        image_size=image_size,
        frames_decoded=decoded,
        face_frames=int(np.isfinite(points[:, 0, 0]).sum()),
        info=info,
    )


def _shrink(frame: np.ndarray, max_side: int | None) -> np.ndarray:
    """``frame`` scaled down (area interpolation) so its long side is at most ``max_side``."""
    h, w = frame.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return frame
    scale = max_side / max(h, w)
    return cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)

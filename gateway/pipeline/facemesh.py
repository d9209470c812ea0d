"""Face Mesh extraction: video frames to the 468 landmarks the model consumes.

Uses MediaPipe's legacy FaceMesh solution because the study's landmarks came from it and its model
ships inside the wheel (no download, works offline). Tracking mode (``static_image_mode=False``)
smooths landmarks across frames as in a live capture. mediapipe is imported on first use so that
processes that never see video do not pay for it.

MediaPipe's C++ writes to fd 2 behind our logs: ``gateway.ops.native_stderr`` captures it while a graph lives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.contract.domain import LANDMARK_COUNT
from gateway.ops import native_stderr

NO_FACE = np.full((LANDMARK_COUNT, 3), np.nan, dtype=np.float32)
"""The row a frame without a face gets (read-only)."""
NO_FACE.flags.writeable = False


class FaceMeshTracker:
    """One MediaPipe FaceMesh graph in tracking mode, fed one frame at a time (streaming, O(1) memory).

    The graph keeps tracking state between frames, so frames must come in time order and one tracker
    serves one clip. It is not thread-safe: use one per thread or process. Use as a context manager
    (or call ``close``) to free the graph's threads and memory.
    """

    def __init__(self) -> None:
        from mediapipe.python.solutions.face_mesh import FaceMesh

        native_stderr.begin()
        try:
            self._mesh = FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=False)
        except BaseException:
            native_stderr.end()
            raise

    def process(self, rgb: NDArray[Any]) -> NDArray[Any]:
        """(468, 3) float32 for one RGB uint8 frame: x, y normalised by width and height, z relative depth.

        ``NO_FACE`` (all NaN) when no face is found.
        """
        faces = self._mesh.process(np.ascontiguousarray(rgb)).multi_face_landmarks
        if not faces:
            return NO_FACE
        return np.array([(p.x, p.y, p.z) for p in faces[0].landmark], dtype=np.float32)

    def close(self) -> None:
        try:
            self._mesh.close()
        finally:
            native_stderr.end()

    def __enter__(self) -> FaceMeshTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def landmarks_from_frames(frames: Iterable[NDArray[Any]]) -> NDArray[Any]:
    """Run Face Mesh on RGB uint8 frames in order; returns (F, 468, 3) float32, NaN rows without a face.

    Coordinates are MediaPipe's: x, y normalised by image width and height, z relative depth.
    """
    with FaceMeshTracker() as tracker:
        rows = [tracker.process(frame) for frame in frames]
    return np.asarray(rows, dtype=np.float32).reshape(-1, LANDMARK_COUNT, 3)

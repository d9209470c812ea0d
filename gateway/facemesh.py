"""Face Mesh extraction: video frames to the 468 landmarks the model consumes.

Uses MediaPipe's legacy FaceMesh solution because the study's landmarks came from it and its model
ships inside the wheel (no download, works offline). Tracking mode (``static_image_mode=False``)
smooths landmarks across frames as in a live capture. mediapipe is imported on first use so that
processes that never see video do not pay for it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from gateway.domain import LANDMARK_COUNT


def landmarks_from_frames(frames: Iterable[np.ndarray]) -> np.ndarray:
    """Run Face Mesh on RGB uint8 frames in order; returns (F, 468, 3) float32, NaN rows without a face.

    Coordinates are MediaPipe's: x, y normalised by image width and height, z relative depth.
    """
    from mediapipe.python.solutions.face_mesh import FaceMesh

    no_face = np.full((LANDMARK_COUNT, 3), np.nan)
    rows = []
    with FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=False) as mesh:
        for frame in frames:
            faces = mesh.process(np.ascontiguousarray(frame)).multi_face_landmarks
            rows.append([(p.x, p.y, p.z) for p in faces[0].landmark] if faces else no_face)
    return np.asarray(rows, dtype=np.float32).reshape(-1, LANDMARK_COUNT, 3)

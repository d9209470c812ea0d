"""Input quality from landmarks alone: how often a face was found and how far the head was turned.

Pure numpy on Face Mesh points, so keypoint uploads and videos are judged the same way, per window
and per clip. A turned head foreshortens one side of the face and the model was trained on faces
seen from the front, so a large turn is a reason to trust a window less.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.contract.domain import LANDMARK_COUNT, Quality

NOSE_TIP, RIGHT_CHEEK, LEFT_CHEEK = 1, 234, 454
"""Pronasale and the face-oval points level with the eyes on the subject's right and left."""

DEPTH_RATIO = 0.72
"""Half the 234-454 width over the nose tip's depth in front of them, measured on MediaPipe's own 3-D
mesh of a frontal face (the astronaut fixture: 0.72; the ratio is a property of MediaPipe's canonical
mesh, which it fits to every face, so it varies little between people)."""

FAILED_FACE_SHARE = 0.5
"""Below this share of frames with a face, an assessment fails instead of scoring: the windows that
could be scored no longer represent the clip, whatever they say."""


def head_turn_deg(points: NDArray[Any], image_size: tuple[int, int] | None = None) -> NDArray[np.float64]:
    """Yaw per frame in degrees, (F,), NaN where there is no face; 0 is facing the camera.

    Method: turning the head by yaw θ moves the nose tip, which sits in front of the cheeks, sideways
    relative to the cheek midpoint by depth x sin θ while the cheek-to-cheek width shrinks by cos θ.
    So the nose offset along the cheek line, as a share r of the half width, gives
    θ = atan(r x ``DEPTH_RATIO``). Only x, y are used (works for 2-D keypoints); measuring along
    the cheek line makes it indifferent to roll and pitch. Sign: positive when the nose points to
    the image's right (the subject's left in unmirrored video). ``image_size`` (w, h) undoes
    MediaPipe's per-axis normalisation, which otherwise skews a rolled face in a non-square frame.

    Accuracy on synthetic yaw of a real MediaPipe mesh (rotated in 3-D, projected orthographically):
    within 1.5° of the true turn up to ±60° once the face's own frontal reading (-1.3° for the
    astronaut, her asymmetry) is taken off (``tests/unit/test_quality.py``). On real video expect a
    few degrees of bias from facial asymmetry and MediaPipe's error, and the mesh, so the estimate,
    to flatten out beyond ~60° where the far cheek is hidden.
    """
    xy = np.asarray(points, dtype=np.float64)
    if xy.ndim != 3 or xy.shape[1] != LANDMARK_COUNT or xy.shape[2] not in (2, 3):
        raise ValueError(f"expected (frames, {LANDMARK_COUNT}, 2 or 3), got {xy.shape}")
    xy = xy[..., :2] * (image_size if image_size is not None else 1.0)
    right, left, nose = xy[:, RIGHT_CHEEK], xy[:, LEFT_CHEEK], xy[:, NOSE_TIP]
    axis = left - right
    with np.errstate(divide="ignore", invalid="ignore"):
        share = 2 * ((nose - (left + right) / 2) * axis).sum(axis=-1) / (axis * axis).sum(axis=-1)
    degrees: NDArray[np.float64] = np.degrees(np.arctan(share * DEPTH_RATIO))
    return degrees


def quality(points: NDArray[Any], image_size: tuple[int, int] | None = None) -> Quality:
    """Share of frames with a face and the largest absolute head turn among them, for any span.

    ``max_head_turn_deg`` is None when no frame has a face. A frame counts as a face when all its
    coordinates are finite.
    """
    points = np.asarray(points)
    if points.shape[0] == 0:
        return Quality(face_share=0.0)
    face = np.isfinite(points).all(axis=(1, 2))
    turn = np.abs(head_turn_deg(points[face], image_size))
    return Quality(
        face_share=round(float(face.mean()), 4),
        max_head_turn_deg=round(float(turn.max()), 1) if turn.size else None,
    )


def no_face_message(face_share: float) -> str:
    """The failed state's reason, e.g. "no face found in 97% of frames" (never rounds up to 100%)."""
    missing = math.floor((1.0 - face_share) * 100 + 1e-9)
    return f"no face found in {missing}% of frames"

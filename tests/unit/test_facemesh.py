"""Real MediaPipe Face Mesh on a real face photo (offline): shape, range, and no-face handling."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage import data

from gateway.pipeline.facemesh import landmarks_from_frames


def test_face_mesh_finds_468_landmarks_on_a_real_face_and_nan_without_one():
    face = cv2.resize(data.astronaut(), (640, 480))
    shifted = np.roll(face, 12, axis=1)
    blank = np.zeros_like(face)
    points = landmarks_from_frames(iter([face, shifted, blank]))
    assert points.shape == (3, 468, 3) and points.dtype == np.float32
    assert np.isfinite(points[:2]).all()
    assert ((points[:2, :, :2] >= 0) & (points[:2, :, :2] <= 1)).all()
    # The face is where the photo has it (upper middle) and follows the shift.
    assert 0.3 < points[0, :, 0].mean() < 0.55 and points[0, :, 1].mean() < 0.4
    assert 10 < (points[1, :, 0] - points[0, :, 0]).mean() * 640 < 14
    assert np.isnan(points[2]).all()


def test_no_frames_gives_an_empty_array():
    assert landmarks_from_frames([]).shape == (0, 468, 3)


def test_committed_fixture_is_a_complete_real_clip():
    fixture = np.load(Path(__file__).parents[1] / "data" / "astronaut_face_5s.npz")
    points = fixture["points"]
    assert points.shape == (150, 468, 3) and points.dtype == np.float32
    assert int(fixture["fps"]) == 30 and fixture["image_size"].tolist() == [640, 480]
    assert np.isfinite(points).all()
    # The synthetic head motion is visible: the nose tip moves by more than a few pixels.
    assert np.ptp(points[:, 4, 0]) * 640 > 10

"""Head-turn estimate against known synthetic yaw of a real MediaPipe mesh; face share and messages."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.pipeline.quality import FAILED_FACE_SHARE, head_turn_deg, no_face_message, quality

SIZE = np.array([640, 480, 640])  # MediaPipe scales x and z by the width, y by the height


@pytest.fixture(scope="module")
def frontal(face_points) -> np.ndarray:
    """One real MediaPipe face from the fixture, in pixels, centred on its centroid."""
    face = face_points[0] * SIZE
    return face - face.mean(axis=0)


def turned(face: np.ndarray, yaw_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    """The face turned in 3-D (yaw about the vertical axis, then roll in the image), projected back to
    MediaPipe's normalised coordinates around the frame centre."""
    y, r = np.radians(yaw_deg), np.radians(roll_deg)
    yaw = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    roll = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return (face @ yaw.T @ roll.T + SIZE / 2 * [1, 1, 0]) / SIZE


def test_head_turn_tracks_synthetic_yaw_within_a_degree_and_a_half(frontal):
    yaws = np.arange(-60, 61, 10)
    clip = np.stack([turned(frontal, yaw) for yaw in yaws])
    estimate = head_turn_deg(clip, (640, 480))
    offset = estimate[yaws == 0][0]  # the face's own asymmetry
    assert abs(offset) < 3
    assert np.all(np.diff(estimate) < 0)  # monotone: this yaw sign turns the nose to image left
    np.testing.assert_allclose(offset - estimate, yaws, atol=1.5)


def test_roll_and_2d_input_do_not_change_the_estimate(frontal):
    reference = head_turn_deg(turned(frontal, 30)[None], (640, 480))[0]
    rolled = head_turn_deg(turned(frontal, 30, roll_deg=25)[None], (640, 480))[0]
    flat = head_turn_deg(turned(frontal, 30)[None, :, :2], (640, 480))[0]
    assert rolled == pytest.approx(reference, abs=0.5) and flat == reference


def test_frames_without_a_face_are_nan_and_do_not_count(frontal):
    clip = np.stack([turned(frontal, 0), turned(frontal, 40), np.full((468, 3), np.nan), turned(frontal, -20)])
    turns = head_turn_deg(clip)
    assert np.isnan(turns[2]) and np.isfinite(turns[[0, 1, 3]]).all()
    q = quality(clip, (640, 480))
    assert q.face_share == 0.75
    assert q.max_head_turn_deg == pytest.approx(40, abs=3)
    assert quality(clip[2:3]).max_head_turn_deg is None and quality(clip[2:3]).face_share == 0.0
    assert quality(np.empty((0, 468, 3))).face_share == 0.0


def test_failed_state_message_never_rounds_a_found_face_away():
    assert 0 < FAILED_FACE_SHARE < 1
    assert no_face_message(0.03) == "no face found in 97% of frames"
    assert no_face_message(0.004) == "no face found in 99% of frames"
    assert no_face_message(0.0) == "no face found in 100% of frames"


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="468"):
        head_turn_deg(np.zeros((3, 10, 2)))


def test_the_image_size_reaches_the_head_turn_and_values_are_rounded_as_documented(frontal):
    """A rolled, turned face in a 4:3 frame reads differently without the frame's size (per-axis
    normalisation skews it), and the reported turn is rounded to 0.1 degree, the face share to 1e-4."""
    face = turned(frontal, 35, roll_deg=40)[None]
    with_size = quality(face, (640, 480)).max_head_turn_deg
    assert with_size == round(float(abs(head_turn_deg(face, (640, 480))[0])), 1)
    assert abs(with_size - quality(face).max_head_turn_deg) > 1.0
    three = np.stack([turned(frontal, 20)] * 2 + [np.full_like(frontal, np.nan)] * 1)
    assert quality(np.concatenate([three] * 3)).face_share == 0.6667

"""Real photographs through the real Face Mesh, with the generator's action units transplanted: graded levels."""

from __future__ import annotations

import numpy as np
import pytest

from plugins.sta_lstm import StaLstmModel
from plugins.sta_lstm.lab.real_faces import DOSES, PHOTOS, dose_response, face_points, graded, similarity_3d, transplant


def test_similarity_recovers_a_known_scale_and_rotation():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(50, 3))
    angle = 0.4
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    scale, found = similarity_3d(src, 3.0 * src @ rotation.T + [1, 2, 3])
    assert scale == pytest.approx(3.0) and np.allclose(found, rotation)


def test_every_photo_is_a_face_and_a_dose_moves_it():
    for name in PHOTOS:
        points, _ = face_points(name)
        assert points.shape == (468, 3) and np.isfinite(points).all(), name
        moved = np.linalg.norm(transplant(name, 7) - points, axis=1)
        assert moved[[226, 446, 2]].max() < 1e-9 < moved.max(), "the anchors stay still, the action units move"
        assert np.array_equal(transplant(name, 0), points)


def test_graded_requires_designed_levels_falling_none_and_a_confident_neutral_face():
    good = {0: [0.9, 0.08, 0.02], 3: [0.1, 0.8, 0.1], 7: [0.05, 0.15, 0.8]}
    assert graded(good)
    assert not graded({**good, 7: [0.05, 0.8, 0.15]}), "significant dose scored mild"
    assert not graded({**good, 0: [0.7, 0.25, 0.05]}), "neutral face below 0.8"
    assert not graded({**good, 7: [0.2, 0.1, 0.7]}), "P(none) rose with the dose"


def test_bundled_model_grades_transplanted_expressions_on_three_real_faces():
    response = dose_response(StaLstmModel())
    assert set(response) == set(PHOTOS) and len(PHOTOS) >= 3
    for name, doses in response.items():
        assert set(doses) == set(DOSES)
        assert graded(doses), (name, doses)

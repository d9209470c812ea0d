"""Frames dropped as a slow live client drops them, for the model card's 30/15/8 fps metrics."""

from __future__ import annotations

import numpy as np
import pytest
from support.live import recorded_points

from gateway.pipeline.dataset import LabelledClip
from plugins.sta_lstm.lab.frame_rates import slow_client


def clip() -> LabelledClip:
    return LabelledClip(landmarks=recorded_points(), fps=30.0, labels=np.zeros(5, np.int8), patient_id="synth-00001")


@pytest.mark.parametrize("fps", [15.0, 8.0])
def test_a_slow_client_keeps_about_fps_frames_a_second_and_the_grid_bridges_them(fps):
    original = clip()
    rng = np.random.default_rng(0)
    kept_rates = []
    for _ in range(20):
        dropped = slow_client(original, fps, rng)
        assert dropped.fps == 30.0 and dropped.landmarks.shape == (150, 468, 2)
        exact = (dropped.landmarks == original.landmarks[..., :2]).all(axis=(1, 2))
        kept_rates.append(exact.sum() / 5.0)
        inside = np.isfinite(dropped.landmarks[: 150 - int(np.ceil(1.5 * 30 / fps))]).all()  # after the last kept frame: nothing
        assert inside, "gaps of at most 1.5/fps s are bridged, as the live server bridges them"
    assert np.mean(kept_rates) == pytest.approx(fps, rel=0.15)


def test_at_30_fps_nothing_is_dropped():
    original = clip()
    np.testing.assert_array_equal(slow_client(original, 30.0, np.random.default_rng(0)).landmarks, original.landmarks[..., :2])

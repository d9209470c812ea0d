"""Live seconds scored together (``score_window_batch``) give each second exactly what scoring it alone
(``score_windows``) gives: the same level, probabilities and quality, whichever seconds share a model call,
with or without a patient's baseline, scorable or not. And resampling 30 fps to 30 fps (the identity fast
path) is what the general formula gives."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.contract.domain import LandmarkClip, PatientRef
from gateway.pipeline import landmarks
from gateway.pipeline.scoring import score_window_batch, score_windows
from gateway.storage.baselines import neutral_reference

PATIENT = PatientRef(system="urn:x", value="1")


def second(face_points, start: int, *, gap: slice | None = None) -> LandmarkClip:
    grid = face_points[start : start + 30, :, :2].astype(np.float32).copy()
    if gap is not None:
        grid[gap] = np.nan
    return LandmarkClip(PATIENT, datetime(2026, 12, 7, tzinfo=UTC), 30.0, grid, (640, 480))


def test_a_batch_scores_each_second_as_scoring_it_alone(face_points, plugins):
    model = plugins.model()
    clips = [second(face_points, 0), second(face_points, 30, gap=slice(3, 20)), second(face_points, 60, gap=slice(10, 13)), second(face_points, 90)]
    neutral = neutral_reference(face_points[:30, :, :2])
    baselines = [None, None, neutral, None]
    batch = score_window_batch(clips, model, max_gap_frames=5, baselines=baselines)
    alone = [score_windows(clip, model, stride_s=1.0, max_gap_frames=5, baseline=b).results[0] for clip, b in zip(clips, baselines, strict=True)]
    assert [r.scorable for r in batch] == [True, False, True, True]
    for together, single in zip(batch, alone, strict=True):
        assert (together.scorable, together.level, together.reason, together.quality) == (single.scorable, single.level, single.reason, single.quality)
        if single.probabilities is not None:
            assert together.probabilities is not None
            for level in ("none", "mild", "significant"):
                assert getattr(together.probabilities, level) == pytest.approx(getattr(single.probabilities, level), abs=1e-5)
    assert score_window_batch([], model, max_gap_frames=5, baselines=[]) == []


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 90), st.booleans())
def test_resampling_at_the_models_rate_is_the_identity(frames, with_gap):
    rng = np.random.default_rng(frames)
    points = rng.random((frames, 4, 2))
    if with_gap:
        points[frames // 2] = np.nan
    n_out = frames
    pos = np.minimum(np.round(np.arange(n_out) * 1.0, 9), frames - 1)
    i0 = np.floor(pos).astype(int)
    general = points[i0] + (pos - i0)[:, None, None] * (points[i0] - points[i0])
    fast = landmarks.resample(points, 30.0, 30.0)
    np.testing.assert_array_equal(fast, general)
    assert fast is not points

"""Properties of the landmark pipeline: pose invariance, exact Umeyama, gaps, resampling, windows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gateway.contract.domain import InputError, LandmarkClip, PatientRef
from gateway.pipeline.landmarks import ANCHORS, TARGET, fill_gaps, normalise_frames, prepare, resample, umeyama

FIXTURE = np.load(Path(__file__).parents[1] / "data" / "astronaut_face_5s.npz")
SIZE = tuple(int(v) for v in FIXTURE["image_size"])
FACE = FIXTURE["points"].astype(np.float64)  # (150, 468, 3), MediaPipe normalised coordinates
FACE_PX = FACE[0, :, :2] * SIZE  # one real face in pixels


def rotation(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def clip(points: np.ndarray, fps: float = 30.0, image_size=SIZE) -> LandmarkClip:
    return LandmarkClip(PatientRef(value="p1"), datetime(2025, 1, 1, tzinfo=UTC), fps, points, image_size)


angles = st.floats(-np.pi, np.pi)
scales = st.floats(0.05, 20.0)
shifts = arrays(np.float64, 2, elements=st.floats(-2000, 2000))


@given(angles, scales, shifts)
def test_normalise_is_invariant_to_rotation_translation_and_uniform_scale(theta, scale, shift):
    moved = scale * FACE_PX @ rotation(theta).T + shift
    np.testing.assert_allclose(normalise_frames(moved[None]), normalise_frames(FACE_PX[None]), atol=2e-5)


def test_normalise_undoes_mediapipe_anisotropy_and_keeps_proportions():
    out = normalise_frames(FACE[:1], SIZE)
    np.testing.assert_allclose(out, normalise_frames(FACE_PX[None]), atol=1e-5)
    assert out.dtype == np.float32 and out.shape == (1, 468, 2)
    np.testing.assert_allclose(out[0, list(ANCHORS)], TARGET, atol=0.05)  # a frontal face fits the target
    assert np.abs(out).max() < 1.0  # and spans roughly [-1, 1]
    # Without the image size the 4:3 frame squeezes x, and the face comes out narrower than it is.
    squeezed = normalise_frames(FACE[:1])
    assert np.ptp(squeezed[0, :, 0]) < 0.95 * np.ptp(out[0, :, 0])


def test_normalise_keeps_missing_frames_missing():
    points = FACE[:4, :, :2].copy()
    points[1] = np.nan
    points[2, 17] = np.nan  # a partial face is as unusable as none
    points[3, list(ANCHORS)] = points[3, ANCHORS[0]]  # coincident anchors: no pose can be fitted
    missing = np.isnan(normalise_frames(points, SIZE)).all(axis=(1, 2))
    assert missing.tolist() == [False, True, True, True]


def test_normalise_rejects_wrong_shape():
    with pytest.raises(InputError) as err:
        normalise_frames(np.zeros((3, 68, 2)))
    assert err.value.field == "frames"


point_sets = arrays(np.float64, (4, 2), elements=st.floats(-100, 100))


@given(point_sets, angles, scales, shifts)
def test_umeyama_recovers_a_known_similarity_exactly(src, theta, scale, shift):
    assume(np.linalg.svd(src - src.mean(axis=0), compute_uv=False)[-1] > 1.0)  # not collinear
    s, r, t = umeyama(src, scale * src @ rotation(theta).T + shift)
    np.testing.assert_allclose(s, scale, rtol=1e-9)
    np.testing.assert_allclose(r, rotation(theta), atol=1e-9)
    np.testing.assert_allclose(t, shift, atol=1e-6 * (1 + np.abs(shift).max() + scale * 100))


@given(point_sets, point_sets)
def test_umeyama_never_returns_a_reflection(src, dst):
    assume(np.linalg.svd(src - src.mean(axis=0), compute_uv=False)[-1] > 1.0)
    for target in (dst, src * [-1.0, 1.0]):  # arbitrary points, and an exact mirror image
        _, r, _ = umeyama(src, target)
        np.testing.assert_allclose(r @ r.T, np.eye(2), atol=1e-9)
        assert np.linalg.det(r) == pytest.approx(1.0)


def test_umeyama_batched_matches_single_calls():
    src = FACE[:10, list(ANCHORS), :2]
    batched = umeyama(src, TARGET)
    for f in range(10):
        for got, want in zip(batched, umeyama(src[f], TARGET), strict=True):
            np.testing.assert_allclose(got[f], want)


def test_fill_gaps_bridges_interior_runs_only():
    points = np.repeat(np.arange(12.0)[:, None, None], 2, axis=2).repeat(468, axis=1)
    points[[0, 4, 5, 6, 11]] = np.nan
    filled, mask = fill_gaps(points, max_gap_frames=3)
    assert mask.tolist() == [False] * 4 + [True] * 3 + [False] * 5
    np.testing.assert_allclose(filled[4:7, 0, 0], [4.0, 5.0, 6.0])  # linear between frames 3 and 7
    assert np.isnan(filled[[0, 11]]).all()  # edge runs have only one side
    assert not fill_gaps(points, max_gap_frames=2)[1].any()


@settings(deadline=None, max_examples=30)
@given(st.data())
def test_gap_up_to_five_frames_is_filled_longer_makes_window_unscorable(data):
    gap = data.draw(st.integers(1, 12), label="gap")
    start = data.draw(st.integers(31, 60 - gap), label="start")  # inside the second window
    points = FACE[:90].copy()
    points[start : start + gap] = np.nan
    windows = prepare(clip(points), max_gap_frames=5)
    second = windows.spans[1]
    assert [s.scorable for s in (windows.spans[0], windows.spans[2])] == [True, True]
    if gap <= 5:
        assert second.scorable and second.reason is None and second.interpolated_frames == gap
        assert windows.data.shape == (3, 30, 468, 2) and np.isfinite(windows.data).all()
    else:
        assert not second.scorable and second.interpolated_frames == 0
        assert second.reason.startswith(f"no face in {gap} of 30 frames (gaps longer than 5 frames")
        assert windows.data.shape == (2, 30, 468, 2)
        np.testing.assert_array_equal(windows.data[1], prepare(clip(FACE[:90])).data[2])


def ramp(frames: int, fps: float) -> np.ndarray:
    """Every coordinate equals the frame's time in seconds, so correct resampling is exact."""
    return np.broadcast_to((np.arange(frames) / fps)[:, None, None], (frames, 468, 2)).copy()


@given(st.sampled_from([10.0, 15.0, 24.0, 25.0, 29.97, 30.0, 50.0, 60.0]), st.integers(2, 200))
def test_resample_to_30_fps_interpolates_linearly_in_time(fps, frames):
    out = resample(ramp(frames, fps), fps)
    assert out.shape[0] == int(np.floor(frames * 30 / fps + 1e-9))
    t = np.arange(out.shape[0]) / 30.0
    inside = t <= (frames - 1) / fps
    np.testing.assert_allclose(out[inside, 0, 0], t[inside], atol=1e-9)
    np.testing.assert_allclose(out[~inside], (frames - 1) / fps)  # the last frame is held


def test_resample_60_to_30_takes_every_other_frame_and_skips_missing_in_between():
    points = ramp(120, 60.0)
    points[[11, 20]] = np.nan
    out = resample(points, 60.0)
    assert out.shape == (60, 468, 2)
    assert np.isnan(out).any(axis=(1, 2)).nonzero()[0].tolist() == [10]  # source 20; source 11 is skipped


def test_resample_15_to_30_marks_frames_next_to_a_missing_one_missing():
    points = ramp(30, 15.0)
    points[10] = np.nan
    out = resample(points, 15.0)
    assert out.shape == (60, 468, 2)
    assert np.isnan(out).any(axis=(1, 2)).nonzero()[0].tolist() == [19, 20, 21]


def test_prepare_resamples_60_fps_clips_to_the_same_windows():
    doubled = resample(FACE[:90], 30.0, target_fps=60.0)
    a, b = prepare(clip(doubled, fps=60.0)), prepare(clip(FACE[:90]))
    assert [s.start_s for s in a.spans] == [0.0, 1.0, 2.0]
    np.testing.assert_allclose(a.data, b.data, atol=1e-6)


def test_stride_half_second_gives_overlapping_windows():
    windows = prepare(clip(FACE[:90]), stride_s=0.5)
    assert [(s.start_s, s.end_s) for s in windows.spans] == [(t / 2, t / 2 + 1) for t in range(5)]
    assert windows.data.shape == (5, 30, 468, 2) and windows.data.dtype == np.float32
    np.testing.assert_array_equal(windows.data[1, :15], windows.data[0, 15:])


def test_trailing_partial_window_is_dropped():
    windows = prepare(clip(FACE[:89]))
    assert [s.index for s in windows.spans] == [0, 1]


def test_fixture_clip_gives_five_scorable_windows():
    windows = prepare(clip(FACE, fps=float(FIXTURE["fps"])))
    assert len(windows.scorable) == 5 and windows.data.shape == (5, 30, 468, 2)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"points": np.zeros((40, 468))}, "frames"),
        ({"points": FACE[:20]}, "frames"),  # shorter than one window
        ({"points": FACE[:40], "fps": 0.0}, "fps"),
    ],
)
def test_prepare_blames_the_callers_field(kwargs, field):
    with pytest.raises(InputError) as err:
        prepare(clip(**kwargs))
    assert err.value.field == field


def test_prepare_rejects_non_positive_stride():
    with pytest.raises(InputError) as err:
        prepare(clip(FACE[:40]), stride_s=0)
    assert err.value.field == "stride_s"


def test_umeyama_never_returns_a_mirror_image_even_for_mirrored_points():
    """A mirrored face (x flipped) is fitted by the best proper rotation, det +1, never by a reflection."""
    src = FACE_PX[list(ANCHORS)]
    mirrored = src * [-1.0, 1.0]
    _, r, _ = umeyama(src, mirrored)
    assert np.linalg.det(r) == pytest.approx(1.0)
    _, r_batch, _ = umeyama(np.stack([src, src]), np.stack([mirrored, src @ rotation(0.3).T]))
    assert np.allclose(np.linalg.det(r_batch), 1.0)
    np.testing.assert_allclose(r_batch[1], rotation(0.3), atol=1e-9)


def test_every_refusal_says_what_is_needed():
    with pytest.raises(InputError, match=r"expected shape \(frames, 468, 2 or 3\), got \(3, 68, 2\)"):
        normalise_frames(np.zeros((3, 68, 2)))
    with pytest.raises(InputError, match="must be a positive number, got 0"):
        resample(FACE[:30], 0.0)
    with pytest.raises(InputError, match="must be a positive number of seconds, got -1"):
        prepare(clip(FACE), stride_s=-1)
    with pytest.raises(InputError, match=r"clip is 0\.97 s; at least 1 s is needed"):
        prepare(clip(FACE[:29]))


def test_a_clip_of_exactly_one_second_is_one_window():
    windows = prepare(clip(FACE[:30]))
    assert [(s.start_s, s.end_s, s.scorable) for s in windows.spans] == [(0.0, 1.0, True)]


def test_a_slow_clip_is_resampled_up_and_holds_its_last_frame():
    """Below 1 fps is still a rate; upsampling interpolates between frames and ends on the last one."""
    slow = FACE[:4, :, :2]
    out = resample(slow, 0.5, target_fps=1.0)
    assert out.shape == (8, 468, 2)
    np.testing.assert_allclose(out[1], (slow[0] + slow[1]) / 2)
    np.testing.assert_allclose(out[-1], slow[-1])
    half = resample(FACE[:15, :, :2], 15.0)  # 15 fps -> 30 fps: 30 frames, the last one held
    assert half.shape == (30, 468, 2)
    np.testing.assert_allclose(half[-1], FACE[14, :, :2])
    np.testing.assert_allclose(half[-2], FACE[14, :, :2])


def test_a_gap_right_after_the_first_frame_is_bridged():
    points = FACE[:6, :, :2].copy()
    points[1:3] = np.nan
    filled, interpolated = fill_gaps(points, 2)
    assert interpolated.tolist() == [False, True, True, False, False, False]
    np.testing.assert_allclose(filled[1], points[0] + (points[3] - points[0]) / 3)


def test_an_unscorable_window_names_the_missing_frames_and_the_gap_rule():
    points = FACE[:60].copy()
    points[40:50] = np.nan
    spans = prepare(clip(points), max_gap_frames=5).spans
    assert spans[1].reason == ("no face in 10 of 30 frames (gaps longer than 5 frames, or at the start or end of the clip, are not filled)")


def test_the_image_size_reaches_the_normalisation():
    """Without it x is squeezed by the 4:3 frame (see above); ``prepare`` must pass it on."""
    with_size = prepare(clip(FACE[:30], image_size=SIZE)).data
    without = prepare(clip(FACE[:30], image_size=None)).data
    np.testing.assert_allclose(with_size[0], normalise_frames(FACE[:30], SIZE), atol=1e-6)
    assert np.ptp(without[0, 0, :, 0]) < 0.95 * np.ptp(with_size[0, 0, :, 0])

"""The labelled-clip format: round trip, and a validator that names what is wrong."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gateway.pipeline.dataset import FORMAT, DatasetError, LabelledClip, clip_problems, load_clip, load_dataset, save_clip
from gateway.pipeline.landmarks import prepare


def make_clip(patient: str = "p1", seconds: int = 3, fps: float = 30.0, **overrides) -> LabelledClip:
    rng = np.random.default_rng(0)
    fields = dict(
        landmarks=rng.uniform(0.3, 0.7, (int(seconds * fps), 468, 3)).astype(np.float32),
        fps=fps,
        labels=np.array([0, 1, 2][:seconds], np.int8),
        patient_id=patient,
    )
    return LabelledClip(**(fields | overrides))


def arrays(**overrides) -> dict:
    base = {
        "format": np.str_(FORMAT),
        "landmarks": np.zeros((90, 468, 2), np.float32),
        "fps": np.float64(30),
        "labels": np.array([0, 1, 2], np.int8),
        "patient_id": np.str_("p1"),
    }
    return {k: v for k, v in (base | overrides).items() if v is not None}


def test_round_trip_keeps_every_field(tmp_path):
    clip = make_clip(nrs=4.0, image_size=(640, 480), metadata={"role": "neutral_baseline", "site": "x"}, signal_mask=np.ones(468))
    loaded = load_clip(save_clip(tmp_path / "a.npz", clip))
    np.testing.assert_array_equal(loaded.landmarks, clip.landmarks)
    assert (loaded.fps, loaded.patient_id, loaded.nrs, loaded.image_size) == (30.0, "p1", 4.0, (640, 480))
    assert loaded.labels.tolist() == [0, 1, 2] and loaded.is_neutral_baseline and loaded.metadata["site"] == "x"
    assert loaded.signal_mask.shape == (468,) and loaded.name == "a"


def test_optional_fields_default_and_clip_feeds_the_scoring_pipeline(tmp_path):
    loaded = load_clip(save_clip(tmp_path / "b.npz", make_clip()))
    assert math.isnan(loaded.nrs) and loaded.image_size is None and not loaded.is_neutral_baseline
    assert len(prepare(loaded.landmark_clip()).spans) == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"labels": None}, "labels: missing"),
        ({"format": np.str_("other/9")}, "format: 'other/9'"),
        ({"landmarks": np.zeros((90, 478, 2), np.float32)}, "landmarks: shape (90, 478, 2)"),
        ({"landmarks": np.zeros((90, 468, 2), np.int32)}, "landmarks: dtype int32"),
        ({"fps": np.float64(2)}, "fps: 2.0, expected 5-120"),
        ({"labels": np.array([0, 1], np.int8)}, "labels: shape (2,)"),
        ({"labels": np.array([0, 3, 1], np.int8)}, "labels: values [0, 1, 3]"),
        ({"patient_id": np.str_(" ")}, "patient_id: empty"),
        ({"nrs": np.float64(11)}, "nrs: 11.0"),
        ({"image_size": np.array([640, 0])}, "image_size: [640, 0]"),
        ({"metadata": np.str_("[1]")}, "metadata: not a JSON object"),
        ({"metadata": np.str_("{oops")}, "metadata: not JSON"),
        ({"signal_mask": np.ones(10)}, "signal_mask: shape (10,)"),
        ({"colour": np.ones(3)}, "colour: unknown key"),
    ],
)
def test_validator_names_the_problem(overrides, message):
    problems = clip_problems(arrays(**overrides))
    assert any(p.startswith(message) for p in problems), problems


def test_partly_missing_frame_is_refused_but_a_whole_missing_frame_is_fine():
    landmarks = np.zeros((90, 468, 2), np.float32)
    landmarks[5] = np.nan
    assert clip_problems(arrays(landmarks=landmarks)) == []
    landmarks[7, 3, 0] = np.nan
    assert clip_problems(arrays(landmarks=landmarks)) == ["landmarks: frame 7 is partly NaN/inf; a frame without a face must be all NaN"]


def test_save_refuses_an_invalid_clip(tmp_path):
    with pytest.raises(DatasetError, match="labels: shape"):
        save_clip(tmp_path / "bad.npz", make_clip(labels=np.array([0], np.int8)))
    assert not (tmp_path / "bad.npz").exists()


def test_load_dataset_reports_every_bad_file_and_filters_patients(tmp_path):
    for name in ("p1", "p2", "p3"):
        save_clip(tmp_path / f"{name}.npz", make_clip(patient=name))
    assert [c.patient_id for c in load_dataset(tmp_path, patients={"p2"})] == ["p2"]
    np.savez(tmp_path / "x.npz", **arrays(fps=np.float64(500)))
    (tmp_path / "y.npz").write_bytes(b"not an npz")
    with pytest.raises(DatasetError) as error:
        load_dataset(tmp_path)
    text = str(error.value)
    assert "2 of 5 clips are invalid" in text and "x.npz: fps: 500.0" in text and "y.npz: not a readable .npz" in text


def test_empty_directory_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="no .npz clips"):
        load_dataset(tmp_path)

"""The synthetic generator: real base face, reproducible, PSPI labels, known signal, distractors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from gateway.pipeline.dataset import load_dataset
from gateway.pipeline.face import REGIONS
from gateway.pipeline.landmarks import prepare
from plugins.sta_lstm.lab import make_base_face
from plugins.sta_lstm.lab.commands import synth
from plugins.sta_lstm.lab.face import BASE_FACE, LEFT_BROW, RIGHT_BROW, load_face
from plugins.sta_lstm.lab.identity_bank import load_bank
from plugins.sta_lstm.lab.synthetic import (
    CALM,
    SIGNALS,
    Distractors,
    SynthConfig,
    _intensities,
    _pose,
    carry,
    generate_clip,
    identity,
    recorded_still,
    steady,
)

BROWS = list(RIGHT_BROW + LEFT_BROW)


def test_base_face_is_the_committed_output_of_the_mediapipe_script():
    """Re-running Face Mesh on the astronaut gives the committed file: the base geometry is reproducible."""
    # Face Mesh's XNNPACK kernels differ in the last digits between CPUs (0.001 cm measured): 0.05 mm tolerance.
    np.testing.assert_allclose(make_base_face.base_face(), np.load(BASE_FACE), atol=5e-3)


def test_base_face_is_frontal_and_in_centimetres():
    base = load_face().base
    assert np.linalg.norm(base[446] - base[226]) == pytest.approx(10.34, abs=1e-3)
    assert abs(base[446, 1] - base[226, 1]) < 1e-6 and abs(base[446, 2] - base[226, 2]) < 1e-6
    assert base[10, 1] < base[2, 1] < base[152, 1]  # forehead above subnasale above chin (y down)


def test_clips_are_fixed_by_seed_patient_and_clip():
    a, b = generate_clip(3, 1, SynthConfig()), generate_clip(3, 1, SynthConfig())
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    assert not np.array_equal(a.landmarks, generate_clip(3, 2, SynthConfig()).landmarks)
    assert not np.array_equal(a.landmarks, generate_clip(3, 1, SynthConfig(seed=1)).landmarks)


def test_identity_depends_on_the_patient_and_scales_with_strength():
    """Generator 3's designed variation on the base face (``identities="base"``) scales with the strength."""
    face, config = load_face(), SynthConfig(identities="base")
    np.testing.assert_array_equal(identity(face, 7, config)[0], identity(face, 7, config)[0])
    mild = np.abs(identity(face, 7, config)[0] - face.base).mean()
    strong = np.abs(identity(face, 7, SynthConfig(identities="base", identity_strength=3.0))[0] - face.base).mean()
    assert strong > 2 * mild > 0


def test_bank_identities_are_real_train_people_or_shape_model_faces_never_held_out_people():
    """Generator 4: every patient starts from a real face; held-out people of the bank never appear."""
    face, bank = load_face(), load_bank()
    train, held_out = bank.neutral[bank.of("train")], bank.neutral[np.concatenate([bank.of("calibration"), bank.of("test")])]
    config = SynthConfig(identity_strength=0.0)  # the real face alone, no designed variation on top
    nearest_train, nearest_held = [], []
    for patient in range(40):
        shape = identity(face, patient, config)[0]
        nearest_train.append(np.abs(train - shape).mean(axis=(1, 2)).min())
        nearest_held.append(np.abs(held_out - shape).mean(axis=(1, 2)).min())
    exact = np.asarray(nearest_train) < 1e-5
    assert 0.25 < exact.mean() < 0.75, "about half the patients are bank people (bank_share 0.5)"
    assert min(nearest_held) > 0.01, "no patient is a held-out person (shape-model faces may come near one)"
    spread = np.std([identity(face, p, SynthConfig())[0][:, :2] for p in range(40)], axis=0).mean()
    assert spread > 0.1, "faces differ by real identity (cm per landmark)"


def test_action_unit_fields_are_carried_onto_each_face():
    face = load_face()
    np.testing.assert_allclose(carry(face.fields["AU4"], face.base, face.base), face.fields["AU4"], atol=1e-9)
    bigger = face.base * 1.1
    np.testing.assert_allclose(carry(face.fields["AU4"], face.base, bigger), 1.1 * face.fields["AU4"], atol=1e-9)


@pytest.mark.parametrize(("score", "level"), [(0, 0), (1, 0), (2, 1), (5, 1), (6, 2), (16, 2)])
def test_pspi_thresholds(score, level):
    assert SIGNALS["pspi"].level(score) == level


def test_pain_lowers_the_brows_relative_to_the_eyes():
    config = SynthConfig(distractors=CALM, prevalence=(0.5, 0.0, 0.5))
    windows, labels = [], []
    for p in range(12):
        clip = generate_clip(p, 0, config)
        w = prepare(clip.landmark_clip())
        windows.append(w.data[:, -10:, BROWS, 1].mean(axis=(1, 2)))
        labels.append(clip.labels)
    brow, labels = np.concatenate(windows), np.concatenate(labels)
    assert brow[labels == 2].mean() - brow[labels == 0].mean() > 0.03  # y grows downwards


def test_signal_mask_marks_the_region_that_carries_the_label():
    for signal, region in (("brow", "brow"), ("mouth", "mouth")):
        mask = generate_clip(0, 0, SynthConfig(signal=signal, seconds=1)).signal_mask
        inside = mask[list(REGIONS[region])].mean()
        outside = np.delete(mask, list(REGIONS[region])).mean()
        assert inside > 4 * outside, signal


def test_neutral_clip_has_no_pain_but_still_blinks():
    config = SynthConfig(distractors=Distractors(blink_rate_hz=3.0, long_drop=0.0, drop_rate=0.0))
    clip = generate_clip(1, 0, config, neutral=True)
    assert clip.is_neutral_baseline and (clip.labels == 0).all()
    base, lid = load_face().base, load_face().fields["AU43"]
    upper = 159  # right upper lid, and the lower-lid point it closes onto
    lower = int(np.argmin(np.linalg.norm(base - (base[upper] + lid[upper]), axis=1)))
    aperture = np.linalg.norm(clip.landmarks[:, upper] - clip.landmarks[:, lower], axis=1)
    assert aperture.min() < 0.3 * np.median(aperture)


def test_head_turns_stay_within_30_degrees_and_happen():
    rng = np.random.default_rng(0)
    poses = np.concatenate([_pose(rng, 240, Distractors(head_turn=1.0)) for _ in range(50)])
    assert np.abs(poses[:, 0]).max() <= 30.0 and np.abs(poses[:, 0]).max() > 20.0


def test_dropped_frames_are_whole_missing_frames():
    clip = generate_clip(2, 0, SynthConfig(distractors=Distractors(drop_rate=0.05, long_drop=1.0)))
    missing = np.isnan(clip.landmarks).any(axis=(1, 2))
    assert missing.sum() >= 8 and np.isnan(clip.landmarks[missing]).all()
    assert not all(s.scorable for s in prepare(clip.landmark_clip()).spans)  # the long gap is not bridged


def test_synth_command_writes_a_valid_documented_dataset(tmp_path):
    result = CliRunner().invoke(synth, [str(tmp_path), "--patients", "3", "--clips", "2", "--seconds", "2", "--seed", "4"])
    assert result.exit_code == 0, result.output
    clips = load_dataset(tmp_path)
    assert len(clips) == 9 and sum(c.is_neutral_baseline for c in clips) == 3
    assert {c.patient_id for c in clips} == {"synth-00000", "synth-00001", "synth-00002"}
    described = json.loads((tmp_path / "synth.json").read_text())
    assert described["config"]["seed"] == 4 and described["config"]["generator_version"]


def test_action_units_leave_the_normalisation_anchors_still():
    """Generator 3: every field is below 10 % of its peak at landmarks 226, 446 and 2 (in fact zero there),
    so the similarity normalisation cannot turn an expression into a whole-face shift."""
    for name, field in load_face().fields.items():
        magnitude = np.linalg.norm(field, axis=1)
        assert magnitude[[226, 446, 2]].max() < 0.1 * magnitude.max(), name


def test_pain_barely_moves_the_jaw_and_forehead_after_normalisation():
    """Where no action unit acts, the normalised face must stay put (generator 2 shifted them by 0.02-0.03)."""
    config = SynthConfig(distractors=CALM, prevalence=(0.5, 0.0, 0.5))
    pain = np.max([np.linalg.norm(load_face().fields[au], axis=1) for au in SIGNALS["pspi"].aus], axis=0)
    still = [k for k in REGIONS["jaw"] + REGIONS["forehead"] if pain[k] < 0.01]  # under 0.1 mm at full intensity
    shifts = []
    for p in range(8):
        clip = generate_clip(p, 0, config)
        data, labels = prepare(clip.landmark_clip()).data, clip.labels[: len(prepare(clip.landmark_clip()).data)]
        if (labels == 0).any() and (labels == 2).any():
            shifts.append(np.abs(data[labels == 2][:, -5:, still].mean((0, 1)) - data[labels == 0][:, -5:, still].mean((0, 1))).mean())
    assert shifts and np.mean(shifts) < 0.01


def test_still_patients_are_steady_in_every_clip_and_moving_ones_keep_the_distractors():
    """Generator 5: a share of patients face a fixed camera (baseline included); steady keeps blinks and jitter."""
    config = SynthConfig()
    still = [recorded_still(p, config) for p in range(400)]
    assert 0.25 < np.mean(still) < 0.35
    calm = steady(Distractors())
    assert (calm.talking, calm.smiling, calm.head_turn, calm.long_drop) == (0.0, 0.0, 0.0, 0.0)
    assert max(calm.start_pose_deg) <= 1.0 and calm.max_yaw_deg <= 1.0
    assert calm.blink_rate_hz == Distractors().blink_rate_hz and calm.jitter_iod == Distractors().jitter_iod
    assert not any(recorded_still(p, SynthConfig(steady_share=0.0)) for p in range(50))


def test_intensities_favour_pain_free_zeros_faint_mild_and_open_eyes():
    """Labels stay PSPI levels; only how often each score occurs within a level is designed (generator 5)."""
    rng, config, pspi = np.random.default_rng(0), SynthConfig(), SIGNALS["pspi"]
    drawn = {level: np.array([_intensities(rng, level, pspi, config) for _ in range(3000)]) for level in range(3)}
    for level, values in drawn.items():
        assert all(pspi.level(v) == level for v in values.sum(1))
    assert (drawn[0].sum(1) == 0).mean() > 0.8
    mild = np.bincount(drawn[1].sum(1).astype(int), minlength=6)
    assert mild[2] > mild[5]
    assert drawn[2][:, 3].mean() == pytest.approx(config.closed_eyes[2], abs=0.05)

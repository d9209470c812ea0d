"""Graded transplants on held-out real people: doses, clips and the criteria's arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from gateway import prepare
from plugins.sta_lstm.lab.face import RIGHT_BROW, load_face
from plugins.sta_lstm.lab.identity_bank import load_bank
from plugins.sta_lstm.lab.real_identities import DOSES, SMILE, clip_of, expected_level, face_of, summary


def test_doses_have_the_pspi_they_claim_and_span_every_level():
    for pspi, intensities in DOSES.items():
        assert sum(intensities.values()) == pspi
    assert {expected_level(d) for d in DOSES} == {0, 1, 2} and expected_level(8) == 2 and expected_level(3) == 1


def test_a_dose_moves_a_real_face_more_the_stronger_it_is_and_leaves_the_anchors():
    person = load_bank().of("test")[0]
    neutral = load_bank().neutral[person]
    np.testing.assert_allclose(face_of(person, 0), neutral, atol=1e-6)
    brow = [face_of(person, d)[list(RIGHT_BROW), 1].mean() - neutral[list(RIGHT_BROW), 1].mean() for d in (3, 8)]
    assert 0 < brow[0] < brow[1], "brows come down (y grows downwards) more at PSPI 8"
    moved = np.linalg.norm(face_of(person, 10) - neutral, axis=1)
    assert moved[[226, 446, 2]].max() < 0.02 < moved.max()
    assert load_face().base.shape == neutral.shape


def test_clips_are_scorable_three_second_windows_of_a_held_out_person():
    person = load_bank().of("test")[-1]
    for dose in (0, 8, SMILE):
        windows = prepare(clip_of(person, dose))
        assert windows.data.shape == (3, 30, 468, 2) and np.isfinite(windows.data).all()
    assert clip_of(person, 8).patient.value == str(load_bank().people[person])


def test_summary_counts_people_and_requires_a_rising_expected_level():
    rows = {0: [0.9, 0.08, 0.02], 2: [0.5, 0.45, 0.05], 3: [0.2, 0.7, 0.1], 5: [0.1, 0.6, 0.3], 8: [0.05, 0.3, 0.65], 10: [0.02, 0.2, 0.78]}
    good = {str(d): np.tile([p], (3, 1)) for d, p in rows.items()}
    flat = {k: np.tile([[0.9, 0.05, 0.05]], (3, 1)) for k in good}
    result = summary({"london-a": good, "canada-b": flat})
    assert result["people"] == 2 and result["neutral_none"] == 1.0
    assert result["pspi8_significant"] == pytest.approx(0.5) and result["pspi3_mild"] == pytest.approx(0.5)
    assert result["expected_level_rising"] == pytest.approx(0.5)
    assert 0 <= result["ece_top_label"] <= 1


def test_a_freshly_trained_network_is_scored_as_its_checkpoint_would_be():
    """The seed study scores real identities with ``TrainedScorer``: same numbers as the served checkpoint."""
    from gateway import neutral_reference
    from plugins.sta_lstm import BUNDLED_CHECKPOINT, StaLstmModel
    from plugins.sta_lstm.checkpoint import load_checkpoint
    from plugins.sta_lstm.lab.real_identities import TrainedScorer

    network, _ = load_checkpoint(BUNDLED_CHECKPOINT)
    served = StaLstmModel()
    scorer = TrainedScorer(network, served.personal_template)
    person = load_bank().of("test")[3]
    baseline = neutral_reference(prepare(clip_of(person, 0, 1)).data)
    for stored in (None, baseline):
        windows = prepare(clip_of(person, 8))
        windows = type(windows)(spans=windows.spans, data=windows.data, baseline=stored)
        np.testing.assert_allclose(scorer.predict(windows).probabilities, served.predict(windows).probabilities, atol=1e-6)


def test_the_seed_table_shows_the_first_visit_columns():
    from plugins.sta_lstm.lab.acceptance import table

    row = {
        "model": "sta-lstm", "seed": 0, "macro_auc": 0.99, "macro_auc_without_baseline": 0.98, "best_epoch": 8, "epochs": 11,
        "nll_raw": 0.2, "nll_prior": 0.16, "nll_calibrated": 0.15, "ece_raw": 0.04, "ece_calibrated": 0.02, "temperature": 0.9,
        "test_fitted_temperature": 0.87, "attention": {}, "brow_eyes_ratio": 1.4, "real_video_seconds_flagged": 0.0,
        "real_identities": {"without_baseline_neutral_none": 1.0, "without_baseline_pspi8_significant": 0.97},
    }  # fmt: skip
    without = {k: v for k, v in row.items() if k != "real_identities"}
    rendered = table([row, {**without, "seed": 1}])
    assert "| 100% / 97% | 0.0% |" in rendered and "| — | 0.0% |" in rendered

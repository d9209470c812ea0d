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

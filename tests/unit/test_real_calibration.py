"""Calibration on held-out real people: a person-level split, a fit that recovers what it should, held doses labelled by their score."""

from __future__ import annotations

import numpy as np
import pytest

from plugins.sta_lstm.lab.identity_bank import load_bank
from plugins.sta_lstm.lab.real_calibration import fit_affine, people_split, probabilities
from plugins.sta_lstm.lab.synthetic import SynthConfig, generate_clip


def test_people_are_split_by_person_with_both_sites_on_both_sides():
    bank = load_bank()
    split = people_split(0)
    fit, held = set(split["calibration"]), set(split["evaluation"])
    assert not fit & held
    assert fit | held == set(bank.of("calibration")) | set(bank.of("test"))
    assert set(bank.of("calibration")) <= fit, "the bank's own calibration people only ever fit"
    for part in (fit, held):
        sites = {str(bank.people[i]).split("-")[0] for i in part}
        assert sites == {"london", "canada"}
    assert people_split(0) == split and people_split(1) != split


def test_fit_recovers_a_known_temperature_and_class_bias():
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 3.0, (6000, 3))
    shift = np.log([0.6, 0.25, 0.15])
    truth = probabilities(z, 1.7, shift + [0.0, 0.8, -0.5])
    y = (rng.random(len(z))[:, None] > truth.cumsum(1)).sum(1)
    temperature, fitted = fit_affine([(z, y)], shift)
    assert temperature == pytest.approx(1.7, rel=0.1)
    np.testing.assert_allclose(fitted - shift, [0.0, 0.8, -0.5], atol=0.15)


def test_fit_weighs_each_domain_equally_whatever_its_size():
    rng = np.random.default_rng(1)
    shift = np.zeros(3)
    z_small, z_large = rng.normal(0.0, 3.0, (300, 3)), rng.normal(0.0, 3.0, (3000, 3))
    sample = lambda z, tau: (rng.random(len(z))[:, None] > probabilities(z, tau, shift).cumsum(1)).sum(1)  # noqa: E731
    sharp, blunt = (z_small, sample(z_small, 0.5)), (z_large, sample(z_large, 3.0))
    tau_sharp, _ = fit_affine([sharp], shift)
    tau_blunt, _ = fit_affine([blunt], shift)
    tau_both, _ = fit_affine([sharp, blunt], shift)
    tau_pooled, _ = fit_affine([(np.r_[sharp[0], blunt[0]], np.r_[sharp[1], blunt[1]])], shift)
    assert tau_sharp < tau_both < tau_pooled < tau_blunt, "pooled windows let the ten-times larger domain decide"


def test_held_intensities_label_every_second_by_their_score_and_leave_drawn_clips_alone():
    config = SynthConfig(seconds=3)
    for held, level in (((2, 2, 1, 0), 1), ((2, 2, 2, 0), 2), ((1, 0, 0, 0), 0)):
        clip = generate_clip(5, 0, config, intensities=np.tile(held, (3, 1)))
        assert clip.labels.tolist() == [level] * 3
    drawn = generate_clip(5, 0, config)
    np.testing.assert_array_equal(drawn.landmarks, generate_clip(5, 0, config, intensities=None).landmarks)
    stronger = generate_clip(5, 0, config, intensities=np.tile((4, 4, 4, 0), (3, 1)))
    weaker = generate_clip(5, 0, config, intensities=np.tile((1, 1, 1, 0), (3, 1)))
    neutral = generate_clip(5, 0, config, neutral=True).landmarks
    moved = [np.nanmean(np.abs(c.landmarks - neutral)) for c in (weaker, stronger)]
    assert moved[0] < moved[1]

"""The concordance statistics, each against a hand-worked example and, where one exists, a published one;
the bootstrap's fast form against the libraries' own functions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve

from plugins.reference_scales.statistics import (
    PairArrays,
    _from_confusion,
    _weighted_spearman,
    bland_altman,
    calibration,
    cluster_bootstrap,
    cluster_bootstrap_batched,
    concordance,
    headline,
    sensitivity_specificity,
    spearman,
    weighted_kappa,
)


def test_weighted_kappa_hand_worked():
    # reference [0, 1, 1, 2], AI [0, 1, 2, 2]: one disagreement of weight 1; the expected disagreement
    # from the margins (rows 1, 2, 1; columns 1, 1, 2; n = 4) is 2.25 + 1.5 + 1.25 = 5; kappa = 1 - 1/5
    assert weighted_kappa(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == pytest.approx(0.8)


def test_weighted_kappa_published_two_raters_example():
    # Cohen's kappa, the worked example of 50 grant proposals (Wikipedia, "Cohen's kappa"): both yes 20,
    # A yes B no 5, A no B yes 10, both no 15 -> kappa 0.4; with two levels the quadratic weights are 0/1
    a = np.array([1] * 20 + [1] * 5 + [0] * 10 + [0] * 15)
    b = np.array([1] * 20 + [0] * 5 + [1] * 10 + [0] * 15)
    assert weighted_kappa(a, b) == pytest.approx(0.4)


def test_weighted_kappa_is_undefined_with_one_level_on_both_sides():
    assert np.isnan(weighted_kappa(np.array([2, 2]), np.array([2, 2])))


def test_spearman_hand_worked():
    # ranks 1 2 3 4 against 1 3 2 4: sum of squared rank differences 2, rho = 1 - 6*2 / (4*(16-1)) = 0.8
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([1.0, 3, 2, 4])) == pytest.approx(0.8)


def test_spearman_published_iq_and_television_example():
    # Wikipedia, "Spearman's rank correlation coefficient": IQ against hours of television a week, rho = -29/165
    iq = np.array([106.0, 100, 86, 101, 99, 103, 97, 113, 112, 110])
    tv = np.array([7.0, 27, 2, 50, 28, 29, 20, 12, 6, 17])
    assert spearman(iq, tv) == pytest.approx(-29 / 165)


def test_sensitivity_and_specificity_hand_worked():
    ai = np.array([True, True, False, False, True])
    truth = np.array([True, False, True, False, False])
    # TP 1, FN 1 -> 0.5; TN 1, FP 2 -> 1/3
    assert sensitivity_specificity(ai, truth) == pytest.approx((0.5, 1 / 3))


def test_sensitivity_and_specificity_published_screening_example():
    # Wikipedia, "Sensitivity and specificity", worked example: TP 20, FN 10, FP 180, TN 1820
    truth = np.array([True] * 30 + [False] * 2000)
    ai = np.array([True] * 20 + [False] * 10 + [True] * 180 + [False] * 1820)
    sensitivity, specificity = sensitivity_specificity(ai, truth)
    assert sensitivity == pytest.approx(20 / 30) and specificity == pytest.approx(0.91)


def test_calibration_hand_worked():
    # points (p, outcome): (.8,1) (.1,0) (.1,0) | (.3,0) (.6,0) (.1,1); bins .1: 3 points, mean .1, observed 1/3
    # ECE = (3 * |.1 - 1/3| + |.3 - 0| + |.6 - 0| + |.8 - 1|) / 6 = 1.8 / 6
    result = calibration(np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1]]), np.array([0, 2]))
    assert result.ece == pytest.approx(0.3)
    filled = [(round(b.lower, 1), b.count, b.mean_probability, b.observed) for b in result.bins if b.count]
    assert np.array(filled) == pytest.approx(np.array([(0.1, 3, 0.1, 1 / 3), (0.3, 1, 0.3, 0.0), (0.6, 1, 0.6, 0.0), (0.8, 1, 0.8, 1.0)]))


def test_calibration_bins_agree_with_scikit_learns_reliability_curve():
    rng = np.random.default_rng(7)
    probabilities = rng.dirichlet([1, 1, 1], 300)
    reference = rng.integers(0, 3, 300)
    result = calibration(probabilities, reference)
    outcome = (reference[:, None] == np.arange(3)).reshape(-1)
    observed, mean_p = calibration_curve(outcome, probabilities.reshape(-1), n_bins=10, strategy="uniform")
    ours = np.array([(b.observed, b.mean_probability) for b in result.bins if b.count])
    assert ours == pytest.approx(np.column_stack([observed, mean_p]))


def test_bland_altman_hand_worked():
    # differences 0, .5, 1: bias .5, SD (n - 1) .5, limits .5 -/+ 1.96 * .5
    result = bland_altman(np.array([1.0, 0.5, 2.0]), np.array([1, 0, 1]))
    assert (result.bias, result.sd, result.lower, result.upper) == pytest.approx((0.5, 0.5, -0.48, 1.48))


levels = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 10), st.integers(0, 4)), min_size=2, max_size=60)


@settings(max_examples=60, deadline=None)
@given(levels, st.integers(0, 2**32 - 1), st.integers(1, 3))
def test_the_batched_figures_equal_the_libraries_on_any_resample(rows, seed, repeat):
    """A resample as weights per pair (each pair taken ``repeat`` times, or its patient's draw count):
    the confusion-matrix figures and the weighted ranks give what the libraries give on the expanded sample."""
    rng = np.random.default_rng(seed)
    ai, ref, totals, patients = zip(*rows, strict=True)
    pairs = PairArrays.of(ai, ref, totals, rng.dirichlet([1, 1, 1], len(rows)), [f"p{p}" for p in patients])
    weights = rng.integers(0, repeat + 1, len(rows)).astype(float)
    if weights.sum() < 2:
        weights[:] = 1.0
    expanded = pairs.take(np.repeat(np.arange(len(rows)), weights.astype(int)))
    slow = headline(expanded)
    cm = np.bincount(pairs.reference * 3 + pairs.ai, weights=weights, minlength=9)
    by_matrix = _from_confusion(cm)[:, 0]
    fast = np.array([by_matrix[0], _weighted_spearman(weights[None, :], pairs.expected, pairs.totals)[0], *by_matrix[1:]])
    assert np.array_equal(np.isnan(slow), np.isnan(fast)), (slow, fast)
    assert fast[~np.isnan(fast)] == pytest.approx(slow[~np.isnan(slow)])


def _pairs(n: int, patients: int, seed: int = 1) -> PairArrays:
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 3, n)
    ai = np.clip(ref + rng.integers(-1, 2, n), 0, 2)
    return PairArrays.of(ai, ref, ref * 3 + rng.integers(0, 3, n), rng.dirichlet([1, 1, 1], n), [f"p{i % patients}" for i in range(n)])


def test_the_bootstrap_resamples_patients_and_is_reproducible():
    pairs = _pairs(60, 12)
    low, high = cluster_bootstrap_batched(pairs, 200)
    again = cluster_bootstrap_batched(pairs, 200)
    assert np.array_equal(low, again[0]) and np.array_equal(high, again[1])
    point = headline(pairs)
    assert np.all((low <= point + 1e-12) & (point <= high + 1e-12))


def test_one_patient_gives_no_interval():
    result = concordance(_pairs(8, 1), 200)
    assert result.figures["kappa"].value is not None and result.figures["kappa"].ci_low is None


@pytest.mark.parametrize(("n", "patients", "seed"), [(60, 12, 1), (13, 3, 4), (40, 20, 9)])
def test_the_batched_bootstrap_gives_the_libraries_intervals(n, patients, seed):
    """The shipped path (all resamples at once, weights per pair) against scikit-learn and SciPy called on
    every resample: the same resamples, the same intervals, undefined ones (nan) included."""
    pairs = _pairs(n, patients, seed)
    library = cluster_bootstrap(pairs, headline, 200)
    batched = cluster_bootstrap_batched(pairs, 200)
    for ours, theirs in zip(batched, library, strict=True):
        assert np.array_equal(np.isnan(ours), np.isnan(theirs))
        assert ours[~np.isnan(ours)] == pytest.approx(theirs[~np.isnan(theirs)])

"""Concordance statistics of the AI against a reference scale, from maintained libraries.

Levels are coded 0 (none), 1 (mild), 2 (significant). The AI's level is its clip level; the reference
is the scale's total mapped by the site's versioned mapping. The figures:

- quadratic weighted kappa (``sklearn.metrics.cohen_kappa_score``), the agreement statistic of the
  PainChek-Abbey studies;
- Spearman's rho (``scipy.stats.spearmanr``) between the AI's expected level, P(mild) + 2 P(significant),
  and the scale total;
- sensitivity and specificity (``sklearn.metrics.confusion_matrix``) for "significant" and for "any pain"
  (mild or significant), the mapped scale being the reference;
- the 3x3 confusion matrix (rows: scale level, columns: AI level);
- calibration of the AI's probabilities against the mapped levels: each pair gives three
  (probability, outcome) points, one per level (one-vs-rest, pooled), binned in tenths for the reliability
  diagram; ECE is the bins' count-weighted mean gap between mean probability and observed frequency;
- Bland-Altman of the AI's expected level against the mapped level (bias, SD of the differences,
  95 % limits of agreement = bias +/- 1.96 SD), both on the same 0-2 range.

Confidence intervals are percentile bootstrap intervals (``scipy.stats.bootstrap``) resampling
*patients* (a patient's pairs are not independent), with a fixed seed so a report is reproducible. A
figure that cannot be computed (one class only, no positives) is ``None``, never a made-up number.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from sklearn.metrics import cohen_kappa_score, confusion_matrix

LEVEL_CODES = (0, 1, 2)
SEED = 20261207
CALIBRATION_BINS = 10
LOA_Z = 1.96


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def weighted_kappa(ai: NDArray[np.int64], reference: NDArray[np.int64]) -> float:
    """Quadratic weighted kappa over the three levels (nan when undefined: one level on both sides)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(cohen_kappa_score(reference, ai, labels=list(LEVEL_CODES), weights="quadratic"))


def spearman(expected: NDArray[np.float64], totals: NDArray[np.float64]) -> float:
    """Spearman's rho (nan when either side is constant)."""
    if len(expected) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(expected, totals).statistic)


def sensitivity_specificity(ai_positive: NDArray[np.bool_], reference_positive: NDArray[np.bool_]) -> tuple[float, float]:
    """(sensitivity, specificity) of the AI against the reference; nan where a denominator is 0."""
    tn, fp, fn, tp = confusion_matrix(reference_positive, ai_positive, labels=[False, True]).ravel()
    sensitivity = tp / (tp + fn) if tp + fn else float("nan")
    specificity = tn / (tn + fp) if tn + fp else float("nan")
    return float(sensitivity), float(specificity)


def level_confusion(ai: NDArray[np.int64], reference: NDArray[np.int64]) -> list[list[int]]:
    """Counts, rows the reference (scale) level, columns the AI level, in the order none, mild, significant."""
    return [[int(c) for c in row] for row in confusion_matrix(reference, ai, labels=list(LEVEL_CODES))]


@dataclass(frozen=True)
class CalibrationBin:
    lower: float
    upper: float
    count: int
    mean_probability: float | None
    observed: float | None


@dataclass(frozen=True)
class Calibration:
    bins: list[CalibrationBin]
    ece: float | None


def calibration(probabilities: NDArray[np.float64], reference: NDArray[np.int64], n_bins: int = CALIBRATION_BINS) -> Calibration:
    """One-vs-rest reliability, pooled over the levels, in ``n_bins`` equal-width bins (the last one closed)."""
    p = probabilities.reshape(-1)
    outcome = (reference[:, None] == np.array(LEVEL_CODES)[None, :]).reshape(-1).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.floor(p * n_bins + 1e-9).astype(np.int64), 0, n_bins - 1)  # [k/10, (k+1)/10), the last bin closed
    bins: list[CalibrationBin] = []
    gap = 0.0
    for b in range(n_bins):
        member = index == b
        count = int(member.sum())
        if count:
            mean_p, observed = float(p[member].mean()), float(outcome[member].mean())
            gap += count * abs(mean_p - observed)
            bins.append(CalibrationBin(float(edges[b]), float(edges[b + 1]), count, mean_p, observed))
        else:
            bins.append(CalibrationBin(float(edges[b]), float(edges[b + 1]), 0, None, None))
    return Calibration(bins, gap / len(p) if len(p) else None)


@dataclass(frozen=True)
class BlandAltman:
    bias: float | None
    sd: float | None
    lower: float | None
    upper: float | None
    means: list[float] = field(default_factory=list)
    differences: list[float] = field(default_factory=list)


def bland_altman(expected: NDArray[np.float64], reference: NDArray[np.int64]) -> BlandAltman:
    """Differences AI expected level minus mapped level; SD with n - 1 (Bland & Altman 1986)."""
    differences = expected - reference
    means = (expected + reference) / 2
    if len(differences) < 2:
        return BlandAltman(None, None, None, None, means.tolist(), differences.tolist())
    bias, sd = float(differences.mean()), float(differences.std(ddof=1))
    return BlandAltman(bias, sd, bias - LOA_Z * sd, bias + LOA_Z * sd, means.tolist(), differences.tolist())


@dataclass(frozen=True)
class PairArrays:
    """The pairs as arrays, in a fixed order; ``cluster`` numbers patients in sorted patient-key order."""

    ai: NDArray[np.int64]
    reference: NDArray[np.int64]
    totals: NDArray[np.float64]
    probabilities: NDArray[np.float64]  # (n, 3)
    cluster: NDArray[np.int64]

    @property
    def expected(self) -> NDArray[np.float64]:
        return self.probabilities[:, 1] + 2 * self.probabilities[:, 2]

    @staticmethod
    def of(
        ai: Sequence[int], reference: Sequence[int], totals: Sequence[float], probabilities: Sequence[Sequence[float]], patients: Sequence[str]
    ) -> PairArrays:
        keys = sorted(set(patients))
        number = {k: i for i, k in enumerate(keys)}
        return PairArrays(
            np.asarray(ai, dtype=np.int64),
            np.asarray(reference, dtype=np.int64),
            np.asarray(totals, dtype=np.float64),
            np.asarray(probabilities, dtype=np.float64).reshape(-1, 3),
            np.asarray([number[p] for p in patients], dtype=np.int64),
        )

    def take(self, rows: NDArray[np.int64]) -> PairArrays:
        return PairArrays(self.ai[rows], self.reference[rows], self.totals[rows], self.probabilities[rows], self.cluster[rows])


STATISTICS = ("kappa", "spearman", "sensitivity_significant", "specificity_significant", "sensitivity_any", "specificity_any")


def headline(pairs: PairArrays) -> NDArray[np.float64]:
    """The figures that carry a confidence interval, in ``STATISTICS`` order."""
    sig = sensitivity_specificity(pairs.ai == 2, pairs.reference == 2)
    any_pain = sensitivity_specificity(pairs.ai >= 1, pairs.reference >= 1)
    return np.array([weighted_kappa(pairs.ai, pairs.reference), spearman(pairs.expected, pairs.totals), *sig, *any_pain])


def cluster_bootstrap(
    pairs: PairArrays, statistic: Callable[[PairArrays], NDArray[np.float64]], resamples: int, seed: int = SEED
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Percentile 95 % intervals resampling patients with replacement (``scipy.stats.bootstrap``)."""
    members = [np.flatnonzero(pairs.cluster == c) for c in range(int(pairs.cluster.max()) + 1)] if len(pairs.cluster) else []
    if len(members) < 2:
        nan = np.full(len(STATISTICS), np.nan)
        return nan, nan

    def resampled(chosen: NDArray[np.int64]) -> NDArray[np.float64]:
        return statistic(pairs.take(np.concatenate([members[int(c)] for c in chosen])))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (np.arange(len(members)),),
            resampled,
            vectorized=False,
            n_resamples=resamples,
            method="percentile",
            confidence_level=0.95,
            rng=np.random.default_rng(seed),
        )
    return np.asarray(result.confidence_interval.low, dtype=float), np.asarray(result.confidence_interval.high, dtype=float)


def _from_confusion(cm: NDArray[np.float64]) -> NDArray[np.float64]:
    """Kappa, then sensitivity and specificity for significant and any pain, from confusion matrices (..., 9)."""
    cm = cm.reshape(-1, 3, 3)
    n = cm.sum(axis=(1, 2))
    codes = np.arange(3)
    weights = (codes[:, None] - codes[None, :]) ** 2
    expected = cm.sum(axis=2)[:, :, None] * cm.sum(axis=1)[:, None, :] / n[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = 1 - (weights * cm).sum(axis=(1, 2)) / (weights * expected).sum(axis=(1, 2))
        tp, fn, fp, tn = cm[:, 2, 2], cm[:, 2, :2].sum(axis=1), cm[:, :2, 2].sum(axis=1), cm[:, :2, :2].sum(axis=(1, 2))
        any_tp, any_fn, any_fp, any_tn = cm[:, 1:, 1:].sum(axis=(1, 2)), cm[:, 1:, 0].sum(axis=1), cm[:, 0, 1:].sum(axis=1), cm[:, 0, 0]
        return np.stack([kappa, tp / (tp + fn), tn / (tn + fp), any_tp / (any_tp + any_fn), any_tn / (any_tn + any_fp)])


def _weighted_ranks(weights: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Average ranks of every pair in the sample that repeats pair i ``weights[b, i]`` times, per row b."""
    unique, group = np.unique(values, return_inverse=True)
    per_value = np.zeros((len(weights), len(unique)))
    np.add.at(per_value.T, group, weights.T)
    below = np.cumsum(per_value, axis=1) - per_value
    return (below + (per_value + 1) / 2)[:, group]


def _weighted_spearman(weights: NDArray[np.float64], x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Spearman's rho of each resample (pair i taken ``weights[b, i]`` times): Pearson's r of the average ranks."""
    rx, ry = _weighted_ranks(weights, x), _weighted_ranks(weights, y)
    total = weights.sum(axis=1, keepdims=True)
    dx, dy = rx - (weights * rx).sum(axis=1, keepdims=True) / total, ry - (weights * ry).sum(axis=1, keepdims=True) / total
    sxx, syy, sxy = (weights * dx * dx).sum(axis=1), (weights * dy * dy).sum(axis=1), (weights * dx * dy).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = sxy / np.sqrt(sxx * syy)
    return np.where((sxx <= 1e-12) | (syy <= 1e-12), np.nan, rho)


def cluster_bootstrap_batched(pairs: PairArrays, resamples: int, seed: int = SEED) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``cluster_bootstrap(pairs, headline, ...)``, the same resamples and intervals, computed for all
    resamples at once: a resample is a weight per pair (how often its patient was drawn), its confusion
    matrix the weighted sum of its patients' and its ranks weighted counts. A test holds the two equal."""
    clusters = int(pairs.cluster.max()) + 1 if len(pairs.cluster) else 0
    if clusters < 2:
        nan = np.full(len(STATISTICS), np.nan)
        return nan, nan
    members = [np.flatnonzero(pairs.cluster == c) for c in range(clusters)]
    per_patient = np.stack([np.bincount(pairs.reference[m] * 3 + pairs.ai[m], minlength=9) for m in members]).astype(float)
    expected, totals = pairs.expected, pairs.totals

    def statistic(chosen: NDArray[np.int64], axis: int = -1) -> NDArray[np.float64]:
        rows = np.atleast_2d(chosen)
        counts = np.stack([np.bincount(r, minlength=clusters) for r in rows]).astype(float)
        by_matrix = _from_confusion(counts @ per_patient)
        rho = _weighted_spearman(counts[:, pairs.cluster], expected, totals)
        out = np.vstack([by_matrix[:1], rho[None, :], by_matrix[1:]])
        return out[:, 0] if np.ndim(chosen) == 1 else out

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (np.arange(clusters),),
            statistic,
            vectorized=True,
            n_resamples=resamples,
            method="percentile",
            confidence_level=0.95,
            rng=np.random.default_rng(seed),
        )
    return np.asarray(result.confidence_interval.low, dtype=float), np.asarray(result.confidence_interval.high, dtype=float)


@dataclass(frozen=True)
class Estimate:
    value: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class Concordance:
    pairs: int
    patients: int
    figures: dict[str, Estimate]
    confusion: list[list[int]]
    calibration: Calibration
    bland_altman: BlandAltman


def concordance(pairs: PairArrays, resamples: int, seed: int = SEED) -> Concordance:
    """Every figure for one group of pairs (one scale, mapping version and model version)."""
    n = len(pairs.ai)
    if n == 0:
        empty = {name: Estimate(None, None, None) for name in STATISTICS}
        return Concordance(
            0,
            0,
            empty,
            level_confusion(pairs.ai, pairs.reference),
            calibration(pairs.probabilities, pairs.reference),
            bland_altman(pairs.expected, pairs.reference),
        )
    values = headline(pairs)
    low, high = cluster_bootstrap_batched(pairs, resamples, seed)
    figures = {name: Estimate(_finite(values[i]), _finite(low[i]), _finite(high[i])) for i, name in enumerate(STATISTICS)}
    return Concordance(
        pairs=n,
        patients=len(set(pairs.cluster.tolist())),
        figures=figures,
        confusion=level_confusion(pairs.ai, pairs.reference),
        calibration=calibration(pairs.probabilities, pairs.reference),
        bland_altman=bland_altman(pairs.expected, pairs.reference),
    )

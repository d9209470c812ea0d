"""Classification and calibration metrics in numpy (painai §6); scikit-learn is not a dependency.

All take ``probs`` (n, classes) rows summing to 1 and integer ``labels`` (n,). Everything is
vectorised and O(n log n) at most, because the patient bootstrap recomputes it hundreds of times.
"""

from __future__ import annotations

import numpy as np

from gateway import LEVELS


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (what the Mann-Whitney statistic needs)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties counted half.

    NaN when one of the two groups is empty (a bootstrap sample without that class).
    """
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = len(LEVELS)) -> np.ndarray:
    """Rows = true class, columns = predicted class."""
    return np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(classes, classes)


def quadratic_weighted_kappa(labels: np.ndarray, predicted: np.ndarray, classes: int = len(LEVELS)) -> float:
    """Cohen's kappa with (i - j)² disagreement weights: the ordinal scale's agreement measure."""
    observed = confusion_matrix(labels, predicted, classes).astype(np.float64)
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    i, j = np.indices((classes, classes))
    weights = (i - j) ** 2 / (classes - 1) ** 2
    denominator = (weights * expected).sum()
    return float(1 - (weights * observed).sum() / denominator) if denominator > 0 else float("nan")


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multiclass Brier score: mean over samples of Σ_c (p_c - y_c)²; 0 is perfect, 2 the worst."""
    return float(((probs - np.eye(probs.shape[1])[labels]) ** 2).sum(1).mean())


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true level (what temperature scaling minimises)."""
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width confidence bin: count, mean confidence, observed frequency (NaN when empty)."""
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=bins) / count
        frequency = np.bincount(which, weights=correct.astype(np.float64), minlength=bins) / count
    return count, mean_conf, frequency


def _ece(confidence: np.ndarray, correct: np.ndarray, bins: int) -> float:
    count, mean_conf, frequency = reliability_bins(confidence, correct, bins)
    used = count > 0
    return float((count[used] * np.abs(mean_conf[used] - frequency[used])).sum() / count.sum())


def ece_top_label(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the predicted class's probability (Guo et al. 2017)."""
    return _ece(probs.max(1), probs.argmax(1) == labels, bins)


def ece_classwise(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Mean over classes of the ECE of p_c against the indicator y = c (every probability, not only the top)."""
    return float(np.mean([_ece(probs[:, c], labels == c, bins) for c in range(probs.shape[1])]))


def classification_metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The flat metric set the model card, the manifest and docs/model/evidence.md report."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    classes = probs.shape[1]
    predicted = probs.argmax(1)
    matrix = confusion_matrix(labels, predicted, classes)
    tp = np.diag(matrix).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp / matrix.sum(1)
        precision = tp / matrix.sum(0)
        f1 = 2 * tp / (matrix.sum(1) + matrix.sum(0))
    out = {"accuracy": float(tp.sum() / len(labels))}
    aucs = [roc_auc(probs[:, c], labels == c) for c in range(classes)]
    for c, level in enumerate(LEVELS[:classes]):
        out[f"auc_{level}"] = aucs[c]
        out[f"recall_{level}"] = float(recall[c])
        out[f"precision_{level}"] = float(precision[c])
    out["macro_auc"] = float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")
    extreme = labels != 1
    out["auc_none_vs_significant"] = roc_auc(probs[extreme, 2], labels[extreme] == 2)
    out["macro_f1"] = float(np.nanmean(np.where(matrix.sum(1) > 0, f1, np.nan)))
    out["kappa_quadratic"] = quadratic_weighted_kappa(labels, predicted, classes)
    out["brier"] = brier(probs, labels)
    out["nll"] = log_loss(probs, labels)
    out["ece_top_label"] = ece_top_label(probs, labels)
    out["ece_classwise"] = ece_classwise(probs, labels)
    return out

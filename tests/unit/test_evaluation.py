"""Metrics against hand-computed cases, temperature fitting, patient bootstrap, plots and the model card."""

from __future__ import annotations

import numpy as np
import pytest

from plugins.sta_lstm.lab.evaluation import bootstrap_ci, reliability_plots, softmax
from plugins.sta_lstm.lab.metrics import (
    brier,
    classification_metrics,
    confusion_matrix,
    ece_classwise,
    ece_top_label,
    log_loss,
    quadratic_weighted_kappa,
    roc_auc,
)
from plugins.sta_lstm.lab.training import fit_temperature


def test_auc_counts_ties_half_and_is_nan_without_both_groups():
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4, 0.8>0.1, 0.4=0.4 -> 0.5, 0.4>0.1) = 3.5 / 4
    scores, positive = np.array([0.8, 0.4, 0.4, 0.1]), np.array([True, True, False, False])
    assert roc_auc(scores, positive) == pytest.approx(0.875)
    assert roc_auc(-scores, positive) == pytest.approx(0.125)
    assert np.isnan(roc_auc(scores, np.ones(4, bool)))


def test_confusion_matrix_and_quadratic_kappa_by_hand():
    labels, predicted = np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0])
    assert confusion_matrix(labels, predicted).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    # weights (i-j)^2/4; observed weighted disagreement = (1*0.25 + 1*1)/4 = 0.3125;
    # expected from marginals rows (2,1,1) cols (2,2,0): sum w*r*c/16 = (2*2*0.25 + 1*2*0.25 + 1*2*1 + 1*2*0.25)/16 = 0.25
    assert quadratic_weighted_kappa(labels, predicted) == pytest.approx(1 - 0.3125 / 0.25)
    assert quadratic_weighted_kappa(labels, labels) == pytest.approx(1.0)


def test_brier_and_top_label_ece_by_hand():
    probs = np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1]])
    labels = np.array([0, 1])
    assert brier(probs, labels) == pytest.approx(((0.1**2 + 0.05**2 * 2) + (0.6**2 + 0.7**2 + 0.1**2)) / 2)
    # both top-label confidences fall in different bins: |1 - 0.9| and |0 - 0.6|, each with weight 1/2
    assert ece_top_label(probs, labels) == pytest.approx((0.1 + 0.6) / 2)
    assert ece_top_label(np.eye(3)[[0, 1]], labels) == 0.0


def test_classwise_ece_sees_miscalibration_the_top_label_hides():
    # top label always right at 0.5 confidence in bin 0.5 -> top-label ECE 0.5; class-wise averages per class
    probs = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    labels = np.array([0, 1])
    assert ece_top_label(probs, labels) == pytest.approx(0.5)
    # class 0: p=(0.5, 0) vs y=(1, 0) -> |1-0.5|/2 ; class 1: p=(0.5,0.5) vs (0,1) -> |0.5-0.5| ; class 2: (0,0.5) vs (0,0) -> 0.5/2
    assert ece_classwise(probs, labels) == pytest.approx((0.25 + 0.0 + 0.25) / 3)


def test_classification_metrics_report_per_class_and_macro_figures():
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.7 + 0.1
    m = classification_metrics(probs, labels)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert (m["recall_none"], m["precision_none"]) == (0.5, 0.5)
    assert (m["recall_mild"], m["precision_mild"]) == (1.0, pytest.approx(2 / 3))
    f1 = [0.5, 0.8, 2 / 3]
    assert m["macro_f1"] == pytest.approx(np.mean(f1))
    # p(significant): none rows 0.1, 0.1; significant rows 0.8, 0.1 -> pairs 1 + 1 + 0.5 + 0.5 over 4
    assert m["auc_none_vs_significant"] == pytest.approx(0.75)
    assert {"macro_auc", "kappa_quadratic", "brier", "ece_top_label", "ece_classwise"} <= set(m)


def test_temperature_fit_recovers_the_temperature_that_generated_the_labels():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 3))
    true_probs = softmax(logits, 2.5)
    labels = np.array([rng.choice(3, p=p) for p in true_probs])
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.1)
    assert ece_top_label(softmax(logits, 2.5), labels) < ece_top_label(softmax(logits), labels)


def test_bootstrap_resamples_patients_not_windows():
    rng = np.random.default_rng(1)
    labels = np.tile([0, 1, 2], 20)
    probs = softmax(np.eye(3)[labels] * 2 + rng.normal(0, 1, (60, 3)))
    one_patient = bootstrap_ci(probs, labels, np.full(60, "p"), resamples=20, seed=0)
    assert one_patient["accuracy"][0] == one_patient["accuracy"][1]  # one patient: every resample is the same data
    many = bootstrap_ci(probs, labels, np.repeat([f"p{i}" for i in range(10)], 6), resamples=200, seed=0)
    point = classification_metrics(probs, labels)["accuracy"]
    assert many["accuracy"][0] < point < many["accuracy"][1]


def test_reliability_plots_are_pngs(tmp_path):
    rng = np.random.default_rng(2)
    probs = softmax(rng.normal(0, 2, (50, 3)))
    labels = rng.integers(0, 3, 50)
    for path in reliability_plots(tmp_path, probs, softmax(np.log(probs), 2.0), labels):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_log_loss_by_hand():
    probs = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    assert log_loss(probs, np.array([0, 1])) == pytest.approx(-(np.log(0.5) + np.log(0.8)) / 2)


def test_prior_correction_fixes_a_prior_shift_that_a_temperature_cannot():
    """Balanced-prior posteriors scored on a 60/25/15 population: shifting by log π lowers the NLL,
    and a temperature fitted after the shift stays near 1 because the likelihood ratios were right."""
    rng = np.random.default_rng(3)
    prevalence = np.array([0.6, 0.25, 0.15])
    labels = rng.choice(3, size=6000, p=prevalence)
    features = 2.0 * np.eye(3)[labels] + rng.normal(0, 1.0, (6000, 3))
    balanced_logits = 2.0 * features  # exact log-likelihoods of unit Gaussians centred on 2·e_c, up to a constant
    shift = np.log(prevalence * 3)
    assert log_loss(softmax(balanced_logits, 1.0, shift), labels) < log_loss(softmax(balanced_logits), labels) - 0.02
    tau = fit_temperature(balanced_logits, labels, shift)
    assert tau == pytest.approx(1.0, abs=0.15)
    assert log_loss(softmax(balanced_logits, fit_temperature(balanced_logits, labels)), labels) > log_loss(softmax(balanced_logits, tau, shift), labels)

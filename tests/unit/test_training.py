"""Training: patient split, adaptive stride, class weights, determinism, and the train/evaluate commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gateway.contract.domain import Windows
from gateway.pipeline.dataset import load_dataset
from gateway.storage.baselines import neutral_reference
from plugins.sta_lstm import StaLstmModel, StaLstmSettings
from plugins.sta_lstm.checkpoint import load_checkpoint
from plugins.sta_lstm.lab.commands import evaluate, synth, train
from plugins.sta_lstm.lab.synthetic import SynthConfig, generate_clip
from plugins.sta_lstm.lab.training import (
    PRESETS,
    Preset,
    TrainConfig,
    adaptive_strides,
    build_network,
    class_weights,
    fit,
    split_patients,
    standardise_on,
)
from plugins.sta_lstm.lab.training import (
    train as train_model,
)
from plugins.sta_lstm.lab.windows import concat, window_set
from plugins.sta_lstm.personal import personalise
from plugins.sta_lstm.plain import PlainLstmSettings
from plugins.sta_lstm.plain import register_models as register_plain

QUICK = Preset(lr=3e-3, weight_decay=0.0, batch=32, hidden=8, max_epochs=2, patience=1, halve_every=10)


def test_split_is_by_patient_disjoint_complete_and_seeded():
    ids = [f"p{i}" for i in range(30)] * 3  # several clips per patient
    splits = split_patients(ids, seed=0)
    members = [set(v) for v in splits.values()]
    assert set().union(*members) == set(ids) and sum(map(len, members)) == 30
    assert [len(v) for v in splits.values()] == [18, 3, 3, 6]
    assert [len(v) for v in split_patients([f"p{i}" for i in range(240)], seed=0).values()] == [144, 24, 24, 48]
    assert splits == split_patients(ids, seed=0) and splits != split_patients(ids, seed=1)
    with pytest.raises(ValueError, match="at least 4"):
        split_patients(["a", "b", "c"], seed=0)


def test_presets_carry_the_papers_hyper_parameters():
    paper = PRESETS["paper"]
    assert (paper.lr, paper.weight_decay, paper.batch, paper.hidden) == (0.025, 1e-6, 1000, 64)


def test_adaptive_stride_samples_rare_levels_densely_without_copying_windows():
    config = SynthConfig(prevalence=(0.7, 0.2, 0.1), seconds=6, persistence=0.0)
    clips = [generate_clip(p, 0, config) for p in range(40)]
    strides = adaptive_strides(clips)
    assert strides[0] > strides[1] >= strides[2] >= 3
    seconds = np.bincount(np.concatenate([c.labels for c in clips]), minlength=3)
    resampled = window_set(clips, strides)
    counts = resampled.counts()
    assert counts.max() / counts.min() < (seconds.max() / seconds.min()) / 3  # far more balanced than the seconds
    assert len(set(resampled.starts.tolist())) == len(resampled)  # every window is a distinct stretch of frames


def test_training_windows_are_twice_as_dense_as_the_scoring_grid():
    """Stride 15 frames for the median level: about two training windows per labelled second."""
    config = SynthConfig(prevalence=(0.6, 0.25, 0.15), seconds=8)
    clips = [generate_clip(p, 0, config) for p in range(30)]
    strides = adaptive_strides(clips)
    median = next(level for level, stride in strides.items() if stride == 15)
    assert sorted(strides.values())[1] == 15
    assert window_set(clips, strides).counts()[median] >= 1.8 * window_set(clips).counts()[median]


def test_concat_keeps_every_window_of_each_set():
    config = SynthConfig(seconds=2)
    a, b = (window_set([generate_clip(p, 0, config)]) for p in (1, 2))
    both = concat([a, b])
    assert len(both) == len(a) + len(b)
    np.testing.assert_array_equal(both.data(np.arange(len(a), len(both))), b.data())


def test_class_weights_are_inverse_frequency_with_mean_one():
    np.testing.assert_allclose(class_weights(np.array([100, 50, 0])), [2 / 3, 4 / 3, 0.0])


def _tiny_windows(model: str):
    config = SynthConfig(prevalence=(0.5, 0.0, 0.5), seconds=2)
    windows = window_set([generate_clip(p, 0, config) for p in range(6)], 15)
    net = build_network(model, QUICK)
    standardise_on(net, windows)
    return net, windows


def test_training_is_deterministic_for_a_seed():
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        net, windows = _tiny_windows("sta-lstm")
        fit(net, windows, None, QUICK, seed=3, epochs=1)
        states.append(net.state_dict())
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key])


def test_early_stopping_keeps_the_best_validation_epoch():
    torch.manual_seed(0)
    net, windows = _tiny_windows("plain-lstm")
    history, best = fit(net, windows, windows, QUICK, seed=0, epochs=4)
    losses = [h["validation_loss"] for h in history]
    assert best == 1 + int(np.argmin(losses)) and len(history) <= 4


def test_personalise_moves_each_patients_neutral_face_onto_the_template():
    rng = np.random.default_rng(0)
    neutral = rng.normal(size=(40, 468, 2))
    neutral[3] = np.nan  # a frame without a face is ignored
    reference = neutral_reference(neutral)
    template = rng.normal(size=(468, 2))
    np.testing.assert_allclose(personalise(reference[None], reference, template)[0], template, atol=1e-6)
    assert personalise(neutral, reference, template).dtype == np.float32
    with pytest.raises(ValueError, match="no frame"):
        neutral_reference(np.full((5, 468, 2), np.nan))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    result = CliRunner().invoke(synth, [str(out), "--patients", "8", "--clips", "1", "--seconds", "4"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("model", ["sta-lstm", "plain-lstm"])
def test_train_then_evaluate_commands_produce_a_servable_documented_checkpoint(dataset, tmp_path, model):
    out = tmp_path / "ck"
    args = [str(dataset), "--out", str(out), "--model", model, "--epochs", "2", "--hidden", "8", "--personalised", "--without-baseline", "0.5"]
    trained = CliRunner().invoke(train, args)
    assert trained.exit_code == 0, trained.output
    manifest = json.loads((out / "model.json").read_text())
    assert set(manifest["training"]["splits"]) == {"train", "validation", "calibration", "test"}
    assert manifest["personalisation"] and "pain-gateway train" in manifest["training"]["command"]

    evaluated = CliRunner().invoke(evaluate, [str(out), str(dataset), "--bootstrap", "20"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((out / "metrics.json").read_text())
    assert {"uncalibrated", "prior_corrected", "calibrated", "confusion_matrix", "prevalence", "without_baseline"} <= set(report)
    assert report["test_fitted_temperature"] > 0 and report["unresponsive_windows"] == 0
    assert report["calibrated"]["ci95"]["brier"][0] <= report["calibrated"]["point"]["brier"] <= report["calibrated"]["ci95"]["brier"][1]
    assert (out / "reliability_top_label.png").is_file() and (out / "reliability_classwise.png").is_file()
    card = (out / "MODEL_CARD.md").read_text()
    assert card.startswith("---\nlicense:") and "not clinically validated" in card and "Attention" in card
    assert "Fairness" in card and "prior-corrected + temperature" in card and "Deviations" in card

    # The serving side loads it with its temperature and the evaluated metrics.
    net, stored = load_checkpoint(out)
    calibration = stored["calibration"]
    assert float(net.temperature) == pytest.approx(calibration["temperature"])
    expected_shift = np.log(np.asarray(calibration["prevalence"]) / calibration["training_prior"])
    np.testing.assert_allclose(net.prior_shift.numpy(), expected_shift, rtol=1e-5)
    served = StaLstmModel(StaLstmSettings(checkpoint=str(out)))
    assert served.info.metrics["macro_f1"] == pytest.approx(report["calibrated"]["point"]["macro_f1"], abs=1e-6)
    assert served.personal_template.shape == (468, 2)
    windows = window_set(load_dataset(dataset, patients=stored["training"]["splits"]["test"]))
    probs = served.predict(Windows(spans=[], data=windows.data()[:4])).probabilities
    logits = net(torch.from_numpy(windows.data()[:4]))[0]
    np.testing.assert_allclose(probs, torch.softmax(logits, -1).detach().numpy(), atol=1e-5)

    # A patient's stored neutral face is applied by a personalised checkpoint, and reported as used.
    baseline = neutral_reference(windows.data()[-1:]) + 0.01  # another face than the template
    output = served.predict(Windows(spans=[], data=windows.data()[:4], baseline=baseline))
    relative = torch.from_numpy(personalise(windows.data()[:4], baseline, served.personal_template))
    np.testing.assert_allclose(output.probabilities, torch.softmax(net(relative)[0], -1).detach().numpy(), atol=1e-5)
    assert output.personalised and not served.predict(Windows(spans=[], data=windows.data()[:4])).personalised


def test_plain_lstm_plugin_serves_only_a_configured_checkpoint(dataset, tmp_path):
    class Settings:
        def __init__(self, checkpoint):
            self.checkpoint = checkpoint

        def plugin_config(self, name):
            assert name == "plain_lstm"
            return PlainLstmSettings(checkpoint=self.checkpoint)

    registered = []
    register_plain(register=registered.append, settings=Settings(""))
    assert registered == []
    out = tmp_path / "plain"
    result = CliRunner().invoke(train, [str(dataset), "--out", str(out), "--model", "plain-lstm", "--epochs", "1", "--model-id", "plain-x"])
    assert result.exit_code == 0, result.output
    register_plain(register=registered.append, settings=Settings(str(out)))
    assert [m.info.model_id for m in registered] == ["plain-x"]
    output = registered[0].predict(Windows(spans=[], data=np.zeros((2, 30, 468, 2), np.float32)))
    np.testing.assert_allclose(output.alpha[..., 10], 1 / 465)  # no attention: uniform over non-anchor landmarks
    assert output.attention_informative is False  # so the explainer says "not informative", unchecked or not


def test_prior_correction_matches_the_training_prevalence_and_temperature_is_fitted_after_it():
    config = SynthConfig(seconds=4, prevalence=(0.6, 0.25, 0.15))
    clips = [generate_clip(p, 0, config) for p in range(12)]
    trained = train_model(clips, TrainConfig(max_epochs=1, hidden=8, threads=1, progress=False))
    labels = np.concatenate([c.labels for c in clips if c.patient_id in set(trained.splits["train"])])
    observed = np.bincount(labels, minlength=3) / len(labels)
    assert np.asarray(trained.prevalence) == pytest.approx(np.maximum(observed, 0.01) / np.maximum(observed, 0.01).sum(), abs=0.1)
    np.testing.assert_allclose(trained.model.prior_shift.numpy(), np.log(np.asarray(trained.prevalence) * 3), rtol=1e-5)

"""The bundled checkpoint is what ``make model`` records: hash, provenance, and metrics that recompute."""

from __future__ import annotations

import json

import numpy as np
import pytest

from plugins.model_lab.evaluation import softmax
from plugins.model_lab.metrics import classification_metrics
from plugins.model_lab.synthetic import GENERATOR_VERSION, regenerate
from plugins.model_lab.training import logits_of
from plugins.model_lab.windows import window_set
from plugins.sta_lstm import BUNDLED_CHECKPOINT
from plugins.sta_lstm.checkpoint import load_checkpoint, sha256_file

MANIFEST = json.loads((BUNDLED_CHECKPOINT / "model.json").read_text())


def test_weights_match_the_recorded_sha256_and_are_small():
    weights = BUNDLED_CHECKPOINT / "model.safetensors"
    assert sha256_file(weights) == MANIFEST["sha256"]
    assert weights.stat().st_size < 5 * 2**20


def test_provenance_records_command_seed_generator_and_calibration():
    training = MANIFEST["training"]
    assert training["command"].startswith("pain-gateway train ") and "--seed 0" in training["command"]
    synth = training["dataset"]["synthetic"]
    assert synth["command"].startswith("pain-gateway synth ") and synth["config"]["generator_version"] == GENERATOR_VERSION
    assert MANIFEST["calibration"]["temperature"] > 0 and "synthetic" in MANIFEST["training_data"].lower()
    for name in ("MODEL_CARD.md", "metrics.json", "reliability_top_label.png", "reliability_classwise.png"):
        assert (BUNDLED_CHECKPOINT / name).is_file(), name


def test_metrics_recompute_on_the_regenerated_test_split():
    model, manifest = load_checkpoint(BUNDLED_CHECKPOINT)
    clips = regenerate(manifest["training"]["dataset"]["synthetic"], manifest["training"]["splits"]["test"])
    windows = window_set(clips)
    assert len(windows) == json.loads((BUNDLED_CHECKPOINT / "metrics.json").read_text())["windows"]
    recomputed = classification_metrics(softmax(logits_of(model, windows), float(model.temperature)), windows.labels)
    for name in ("macro_auc", "macro_f1", "kappa_quadratic", "brier", "ece_top_label"):
        assert recomputed[name] == pytest.approx(manifest["metrics"][name], abs=2e-3), name
    assert np.isfinite(list(recomputed.values())).all()

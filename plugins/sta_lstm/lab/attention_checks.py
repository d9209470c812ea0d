"""Sanity checks for attention as explanation (painai §5), run with a checkpoint's own preset.

``pain-gateway attention-check CHECKPOINT DATA`` runs them and records the result in ``model.json``.

Attention is only worth showing if it follows the signal. The checks, each with the preset the model
was trained with (no special learning rate):

- planted signals: trained where the label lives only in the brow (then only in the mouth), the
  network must put >= 2x the uniform share of its attention on that region, ranked first;
- label randomisation (Adebayo et al. 2018): trained on the brow set with shuffled labels, every
  region must stay within 0.5-1.5x, well short of the 2x a planted signal must reach, so attention is
  not drawn by the data alone (the network memorises noise, so it drifts: 1.22-1.43x over seeds 0-2);
- an untrained network's attention is exactly uniform by construction (zero-initialised scores);
- the model itself: on its own test patients the brow + eyes (where AU4 and AU6/7 act) must draw
  >= 1.3x their uniform share.

The outcome is stored in the checkpoint's ``model.json`` (``attention``) and the explainer reports
"not informative" for a model that failed or has no attention (the plain LSTM).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gateway import LANDMARK_SHARES, REGIONS, mass_ratios, region_shares
from plugins.sta_lstm.lab.metrics import roc_auc
from plugins.sta_lstm.lab.synthetic import SynthConfig, generate_clip
from plugins.sta_lstm.lab.training import Preset, build_network, fit, standardise_on
from plugins.sta_lstm.lab.windows import WindowSet, window_set
from plugins.sta_lstm.network import infer

PLANTED_MIN, RANDOM_RANGE, STANDARD_MIN = 2.0, (0.5, 1.5), 1.3
TRAIN_PATIENTS, TEST_PATIENTS, TRAIN_STRIDE = range(60), range(1000, 1020), 3
FACE_SIGNAL = ("brow", "eyes")  # regions of AU4 and AU6/7, the largest PSPI fields


def planted_sets(signal: str) -> tuple[WindowSet, WindowSet]:
    """None vs significant only, default distractors (pose, blinks, talking, jitter, drops)."""
    config = SynthConfig(seed=1, seconds=4, signal=signal, prevalence=(0.5, 0.0, 0.5))
    train = window_set([generate_clip(p, 0, config) for p in TRAIN_PATIENTS], TRAIN_STRIDE)
    test = window_set([generate_clip(p, 0, config) for p in TEST_PATIENTS])
    return train, test


def train_planted(signal: str, preset: Preset, seed: int = 0, shuffle_labels: bool = False):
    """A fresh STA-LSTM trained with ``preset`` on a planted set; returns it and the held-out windows."""
    torch.manual_seed(seed)
    train, test = planted_sets(signal)
    if shuffle_labels:
        train = WindowSet(train.frames, train.starts, np.random.default_rng(seed).permutation(train.labels), train.patients)
    model = build_network("sta-lstm", preset)
    standardise_on(model, train)
    fit(model, train, None, preset, seed=seed, epochs=preset.max_epochs)
    return model, test


def ratios_on(model, windows: WindowSet) -> dict[str, float]:
    _, alpha, beta, _ = infer(model, windows.data())
    return mass_ratios(alpha, beta)


def face_signal_ratio(model, windows: WindowSet) -> float:
    """Attention share of brow + eyes over their share of landmarks."""
    _, alpha, beta, _ = infer(model, windows.data())
    index = [list(REGIONS).index(r) for r in FACE_SIGNAL]
    return float(region_shares(alpha, beta)[index].sum() / LANDMARK_SHARES[index].sum())


def planted_check(signal: str, preset: Preset, seed: int = 0) -> dict[str, Any]:
    model, test = train_planted(signal, preset, seed)
    ratios = ratios_on(model, test)
    probabilities = infer(model, test.data())[0]
    return {
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "auc": round(roc_auc(probabilities[:, 2] - probabilities[:, 0], test.labels == 2), 3),
        "passed": bool(ratios[signal] >= PLANTED_MIN and max(ratios, key=ratios.get) == signal),
    }


def randomised_check(preset: Preset, seed: int = 0) -> dict[str, Any]:
    model, test = train_planted("brow", preset, seed, shuffle_labels=True)
    ratios = ratios_on(model, test)
    return {"ratios": {k: round(v, 3) for k, v in ratios.items()}, "passed": all(RANDOM_RANGE[0] <= r <= RANDOM_RANGE[1] for r in ratios.values())}


def check_model(model, test: WindowSet, preset: Preset, seed: int = 0) -> dict[str, Any]:
    """Every check for one trained STA-LSTM; ``informative`` only when all pass."""
    if not hasattr(model, "attention_out"):
        return {"informative": False, "reason": "the model has no attention (uniform by construction)"}
    ratio = face_signal_ratio(model, test)
    checks = {
        "planted_brow": planted_check("brow", preset, seed),
        "planted_mouth": planted_check("mouth", preset, seed),
        "shuffled_labels": randomised_check(preset, seed),
        "test_split": {
            "brow_eyes_ratio": round(ratio, 3),
            "ratios": {k: round(v, 3) for k, v in ratios_on(model, test).items()},
            "passed": ratio >= STANDARD_MIN,
        },
    }
    failed = [name for name, c in checks.items() if not c["passed"]]
    return {
        "informative": not failed,
        "reason": "passed every check" if not failed else f"failed: {', '.join(failed)}",
        "thresholds": {"planted_min": PLANTED_MIN, "random_range": list(RANDOM_RANGE), "brow_eyes_min": STANDARD_MIN},
        "checks": checks,
    }


def check_checkpoint(checkpoint: str | Path, data_dir: str | Path) -> dict[str, Any]:
    """``pain-gateway attention-check``: ``check_model`` with the checkpoint's preset and seed on its test
    patients (scored as the checkpoint scores them); the outcome goes into ``model.json`` and the card."""
    from gateway import load_dataset
    from plugins.sta_lstm.checkpoint import load_checkpoint
    from plugins.sta_lstm.lab.evaluation import evaluation_windows, record_in_checkpoint

    model, manifest = load_checkpoint(checkpoint)
    config = manifest["training"]["config"]
    test = evaluation_windows(load_dataset(data_dir), manifest, "test")
    result = check_model(model, test, Preset(**config["preset_values"]), config["seed"])
    record_in_checkpoint(checkpoint, "attention", result)
    return result

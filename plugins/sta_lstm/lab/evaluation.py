"""Evaluate a checkpoint on held-out patients (``pain-gateway evaluate``): metrics, CIs, plots, card.

Windows lie on the 1-second grid the gateway scores. Every metric is reported for the raw logits
(balanced training prior, τ = 1), after the prior correction alone, and fully calibrated (prior
correction, then the checkpoint's temperature), with 95 % patient-level bootstrap intervals for the
first and last (painai §6: clips of one patient are correlated, so patients are resampled, not clips).
The temperature that would have been fitted on the test patients themselves is reported beside the
stored one: the gap says how far the calibration patients were from representative.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from gateway import LEVELS, LabelledClip, load_dataset
from plugins.sta_lstm.checkpoint import load_checkpoint, read_manifest, write_manifest, write_model_card
from plugins.sta_lstm.lab.metrics import classification_metrics, confusion_matrix, reliability_bins
from plugins.sta_lstm.lab.model_card import HEADLINE, render_model_card
from plugins.sta_lstm.lab.training import fit_temperature, logits_of, neutral_references, personal_transform
from plugins.sta_lstm.lab.windows import WindowSet, window_set


def softmax(logits: np.ndarray, temperature: float = 1.0, shift: np.ndarray | float = 0.0) -> np.ndarray:
    z = logits / temperature + shift
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def bootstrap_ci(probs: np.ndarray, labels: np.ndarray, patients: np.ndarray, resamples: int, seed: int) -> dict[str, list[float]]:
    """2.5th and 97.5th percentiles of every metric over resamples of whole patients."""
    ids, inverse = np.unique(patients, return_inverse=True)
    members = [np.flatnonzero(inverse == i) for i in range(len(ids))]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(ids), len(ids))])
        draws.append(classification_metrics(probs[idx], labels[idx]))
    values = {k: np.array([d[k] for d in draws]) for k in draws[0]}
    # A metric undefined in every resample (a level absent from the split) has no interval.
    return {k: np.nanpercentile(v, [2.5, 97.5]).tolist() if np.isfinite(v).any() else [float("nan")] * 2 for k, v in values.items()}


def reliability_plots(out: Path, raw: np.ndarray, calibrated: np.ndarray, labels: np.ndarray, bins: int = 10) -> list[Path]:
    """Top-label diagram (before and after calibration) and class-wise diagrams (after it) as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def panel(ax, confidence, correct, title, label=None):
        count, conf, freq = reliability_bins(confidence, correct, bins)
        used = count > 0
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.plot(conf[used], freq[used], "o-", label=label)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted probability", ylabel="observed frequency", title=title)

    paths = [out / "reliability_top_label.png", out / "reliability_classwise.png"]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for probs, name in ((raw, "uncalibrated"), (calibrated, "prior + temperature")):
        panel(ax, probs.max(1), probs.argmax(1) == labels, "Top-label reliability", name)
    ax.legend()
    fig.savefig(paths[0], dpi=100, bbox_inches="tight")
    fig, axes = plt.subplots(1, len(LEVELS), figsize=(12, 4))
    for c, ax in enumerate(axes):
        panel(ax, calibrated[:, c], labels == c, f"{LEVELS[c]} (prior + temperature)")
    fig.savefig(paths[1], dpi=100, bbox_inches="tight")
    plt.close("all")
    return paths


def evaluation_windows(clips: list[LabelledClip], manifest: dict[str, Any], split: str) -> WindowSet:
    """The split's windows, personalised with the checkpoint's template when it was trained that way."""
    splits = manifest["training"]["splits"]
    if split != "all":
        wanted = set(splits[split])
        clips = [c for c in clips if c.patient_id in wanted]
        if not clips:
            raise ValueError(f"no clip of the {split} patients recorded in the checkpoint is in this dataset")
    transform = None
    if manifest.get("personalisation"):
        transform = personal_transform(neutral_references(clips), np.asarray(manifest["personalisation"]["template"]))
    return window_set(clips, transform=transform)


def unresponsive_windows(model, windows: WindowSet, size: float = 0.05, seed: int = 0) -> int:
    """Windows whose probabilities do not move at all when every input coordinate is nudged.

    A model whose output is input-independent for some windows (the old ReLU gate gave exactly
    (⅓, ⅓, ⅓) whenever every β was 0) cannot be scoring those faces.
    """
    import torch

    rng = np.random.default_rng(seed)
    moved = 0
    with torch.no_grad():
        for i in range(0, len(windows), 256):
            x = windows.data(np.arange(i, min(i + 256, len(windows))))
            nudged = x + rng.normal(0.0, size, x.shape).astype(np.float32)
            a, b = (torch.softmax(model(torch.from_numpy(v))[0], -1) for v in (x, nudged))
            moved += int(((a - b).abs().amax(-1) > 1e-6).sum())
    return len(windows) - moved


def evaluate(model, windows: WindowSet, resamples: int = 500, seed: int = 0) -> dict[str, Any]:
    """Metrics before and after the model's calibration (prior shift and temperature stored in it)."""
    logits = logits_of(model, windows)
    temperature, shift = float(model.temperature), model.prior_shift.numpy().astype(np.float64)
    variants = {
        "uncalibrated": softmax(logits),
        "prior_corrected": softmax(logits, 1.0, shift),
        "calibrated": softmax(logits, temperature, shift),
    }
    report: dict[str, Any] = {
        "windows": len(windows),
        "patients": int(len(np.unique(windows.patients))),
        "prevalence": dict(zip(LEVELS, windows.counts().tolist(), strict=False)),
        "temperature": temperature,
        "prior_shift": shift.round(6).tolist(),
        "test_fitted_temperature": fit_temperature(logits, windows.labels, shift),
        "unresponsive_windows": unresponsive_windows(model, windows),
        "bootstrap": resamples,
        "confusion_matrix": confusion_matrix(windows.labels, variants["calibrated"].argmax(1)).tolist(),
    }
    for name, probs in variants.items():
        report[name] = {"point": classification_metrics(probs, windows.labels)}
        if resamples and name != "prior_corrected":
            report[name]["ci95"] = bootstrap_ci(probs, windows.labels, windows.patients, resamples, seed)
    report["probabilities"] = {"raw": variants["uncalibrated"], "calibrated": variants["calibrated"]}
    return report


def headline(report: dict[str, Any]) -> dict[str, float]:
    """The flat, finite metrics the manifest (``ModelInfo.metrics``) carries."""
    out = {k: v for k, v in report["calibrated"]["point"].items() if np.isfinite(v)}
    out.update({f"{k}_uncalibrated": report["uncalibrated"]["point"][k] for k in ("brier", "ece_top_label", "ece_classwise")})
    return {k: round(float(v), 6) for k, v in out.items()}


def evaluate_checkpoint(checkpoint: str | Path, data_dir: str | Path, split: str = "test", resamples: int = 500, seed: int = 0) -> dict[str, Any]:
    """Evaluate, then write metrics.json, the reliability PNGs, the manifest's metrics and the card."""
    checkpoint = Path(checkpoint)
    model, manifest = load_checkpoint(checkpoint)
    clips = load_dataset(data_dir)
    windows = evaluation_windows(clips, manifest, split)
    report = evaluate(model, windows, resamples, seed)
    probabilities = report.pop("probabilities")
    report["split"] = split
    report["scored_with_baseline"] = bool(manifest.get("personalisation"))
    if manifest["training"]["config"].get("without_baseline"):  # trained to score patients without a baseline too
        raw = evaluation_windows(clips, {**manifest, "personalisation": None}, split)
        report["without_baseline"] = {"point": evaluate(model, raw, resamples=0)["calibrated"]["point"]}
    reliability_plots(checkpoint, probabilities["raw"], probabilities["calibrated"], windows.labels)
    (checkpoint / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    manifest["metrics"] = headline(report)
    manifest["evaluation"] = {"dataset": str(data_dir), "split": split, "bootstrap": resamples, "headline": list(HEADLINE)}
    write_manifest(checkpoint, manifest)
    write_model_card(checkpoint, render_model_card(manifest, report))
    return report


def record_in_checkpoint(checkpoint: str | Path, key: str, value: Any) -> None:
    """Store a finding under ``key`` in ``model.json`` and re-render the card, which is rendered from it."""
    checkpoint = Path(checkpoint)
    manifest = read_manifest(checkpoint)
    manifest[key] = value
    write_manifest(checkpoint, manifest)
    metrics = checkpoint / "metrics.json"
    write_model_card(checkpoint, render_model_card(manifest, json.loads(metrics.read_text()) if metrics.is_file() else None))

"""Evaluate a checkpoint on held-out patients (``pain-gateway evaluate``): metrics, CIs, plots, card.

Windows lie on the 1-second grid the gateway scores. Every metric is reported twice, with the raw
logits (τ = 1) and with the checkpoint's fitted temperature, each with a 95 % patient-level bootstrap
interval (painai §6: clips of one patient are correlated, so patients are resampled, not clips).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from gateway.dataset import LabelledClip, load_dataset
from gateway.domain import LEVELS
from plugins.model_lab.metrics import classification_metrics, confusion_matrix, reliability_bins
from plugins.model_lab.model_card import HEADLINE, render_model_card
from plugins.model_lab.training import logits_of, neutral_references, personal_transform
from plugins.model_lab.windows import WindowSet, window_set
from plugins.sta_lstm.checkpoint import load_checkpoint, write_manifest, write_model_card


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
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
    """Top-label diagram (before and after τ) and class-wise diagrams (after τ) as PNGs."""
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
    for probs, name in ((raw, "uncalibrated"), (calibrated, "temperature-scaled")):
        panel(ax, probs.max(1), probs.argmax(1) == labels, "Top-label reliability", name)
    ax.legend()
    fig.savefig(paths[0], dpi=100, bbox_inches="tight")
    fig, axes = plt.subplots(1, len(LEVELS), figsize=(12, 4))
    for c, ax in enumerate(axes):
        panel(ax, calibrated[:, c], labels == c, f"{LEVELS[c]} (temperature-scaled)")
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


def evaluate(model, windows: WindowSet, temperature: float, resamples: int = 500, seed: int = 0) -> dict[str, Any]:
    logits = logits_of(model, windows)
    raw, calibrated = softmax(logits), softmax(logits, temperature)
    report: dict[str, Any] = {
        "windows": len(windows),
        "patients": int(len(np.unique(windows.patients))),
        "prevalence": dict(zip(LEVELS, windows.counts().tolist())),
        "temperature": temperature,
        "bootstrap": resamples,
        "confusion_matrix": confusion_matrix(windows.labels, calibrated.argmax(1)).tolist(),
    }
    for name, probs in (("uncalibrated", raw), ("calibrated", calibrated)):
        report[name] = {
            "point": classification_metrics(probs, windows.labels),
            "ci95": bootstrap_ci(probs, windows.labels, windows.patients, resamples, seed),
        }
    report["probabilities"] = {"raw": raw, "calibrated": calibrated}
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
    windows = evaluation_windows(load_dataset(data_dir), manifest, split)
    temperature = float(model.temperature)
    report = evaluate(model, windows, temperature, resamples, seed)
    probabilities = report.pop("probabilities")
    report["split"] = split
    reliability_plots(checkpoint, probabilities["raw"], probabilities["calibrated"], windows.labels)
    (checkpoint / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    manifest["metrics"] = headline(report)
    manifest["evaluation"] = {"dataset": str(data_dir), "split": split, "bootstrap": resamples, "headline": list(HEADLINE)}
    write_manifest(checkpoint, manifest)
    write_model_card(checkpoint, render_model_card(manifest, report))
    return report

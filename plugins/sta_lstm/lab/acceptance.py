"""Seed study (``pain-gateway acceptance``): STA-LSTM against the plain LSTM over several training seeds.

One seed is an anecdote: the old STA-LSTM ranged from 0.78 to 0.91 macro AUC across seeds on the same
data. Each seed re-splits the patients, re-initialises and re-orders batches; both models see the same
split and are trained as ``make model`` trains the bundled one (``SHIPPED``). Per run, on the test
patients scored with their baseline: macro AUC, best epoch, NLL raw / prior-corrected / calibrated,
top-label ECE, the stored τ against the τ fitted on the test patients, input-independent windows and
(STA-LSTM) the attention mass ratios; the macro AUC without a baseline; the held-out real people's
criteria with and without a baseline and the real no-pain video's flagged seconds. Too slow for the unit
tests; its output is the evidence the model card and docs/model/evidence.md quote.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gateway import LabelledClip, load_dataset, mass_ratios
from plugins.sta_lstm.lab.attention_checks import face_signal_ratio
from plugins.sta_lstm.lab.clip_rules import video_tracks
from plugins.sta_lstm.lab.evaluation import evaluate
from plugins.sta_lstm.lab.real_identities import TrainedScorer, evaluate_people, headline
from plugins.sta_lstm.lab.training import TrainConfig, neutral_references, personal_transform, train
from plugins.sta_lstm.lab.windows import window_set
from plugins.sta_lstm.network import infer

SHIPPED = {"personalised": True, "without_baseline": 0.5}
"""How ``make model`` trains: relative to each patient's neutral clip, half the training clips without it."""


def run(clips: Sequence[LabelledClip], model: str, seed: int, threads: int = 1) -> dict[str, Any]:
    trained = train(clips, TrainConfig(model=model, seed=seed, threads=threads, progress=False, **SHIPPED))
    wanted = set(trained.splits["test"])
    mine = [c for c in clips if c.patient_id in wanted]
    test = window_set(mine, transform=personal_transform(neutral_references(mine), trained.template))
    report = evaluate(trained.model, test, resamples=0)
    without = evaluate(trained.model, window_set(mine), resamples=0)["calibrated"]["point"]
    raw, prior, cal = (report[v]["point"] for v in ("uncalibrated", "prior_corrected", "calibrated"))
    row = {
        "model": model,
        "seed": seed,
        "macro_auc": cal["macro_auc"],
        "macro_auc_without_baseline": without["macro_auc"],
        "ece_without_baseline": without["ece_top_label"],
        "best_epoch": trained.best_epoch,
        "epochs": len(trained.history),
        "nll_raw": raw["nll"],
        "nll_prior": prior["nll"],
        "nll_calibrated": cal["nll"],
        "ece_raw": raw["ece_top_label"],
        "ece_calibrated": cal["ece_top_label"],
        "temperature": report["temperature"],
        "test_fitted_temperature": report["test_fitted_temperature"],
        "unresponsive_windows": report["unresponsive_windows"],
        "test_windows": report["windows"],
    }
    real = evaluate_people(TrainedScorer(trained.model, trained.template))
    row["real_identities"] = headline(real)
    tracks = video_tracks(TrainedScorer(trained.model, trained.template))
    row["real_video_seconds_flagged"] = float(np.mean(np.concatenate([p.argmax(1) >= 1 for p in tracks])))
    if model == "sta-lstm":
        _, alpha, beta, _ = infer(trained.model, test.data())
        row["attention"] = mass_ratios(alpha, beta)
        row["brow_eyes_ratio"] = face_signal_ratio(trained.model, test)
    return row


def study(data_dir: str | Path, seeds: Sequence[int], models: Sequence[str] = ("sta-lstm", "plain-lstm"), threads: int = 1) -> list[dict[str, Any]]:
    clips = load_dataset(data_dir)
    return [run(clips, model, seed, threads) for seed in seeds for model in models]


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the runs, then the per-model means."""
    head = (
        "| model | seed | macro AUC (without baseline) | best epoch | NLL raw → prior → calibrated | ECE raw → calibrated "
        "| τ (calibration) / τ (test) | brow + eyes × uniform | real people, no baseline: neutral none / PSPI 8 significant "
        "| real video seconds flagged |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        att = r.get("attention")
        real = r.get("real_identities")
        real_cell = "—" if real is None else f"{real['without_baseline_neutral_none']:.0%} / {real['without_baseline_pspi8_significant']:.0%}"
        video_cell = "—" if "real_video_seconds_flagged" not in r else f"{r['real_video_seconds_flagged']:.1%}"
        lines.append(
            f"| {r['model']} | {r['seed']} | {r['macro_auc']:.3f} ({r['macro_auc_without_baseline']:.3f}) | {r['best_epoch']} of {r['epochs']} | "
            f"{r['nll_raw']:.3f} → {r['nll_prior']:.3f} → {r['nll_calibrated']:.3f} | {r['ece_raw']:.3f} → {r['ece_calibrated']:.3f} | "
            f"{r['temperature']:.2f} / {r['test_fitted_temperature']:.2f} | "
            f"{'—' if att is None else '{:.2f}'.format(r['brow_eyes_ratio'])} | {real_cell} | {video_cell} |"
        )
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        lines.append(
            f"| {model} mean | {len(mine)} seeds | {np.mean([r['macro_auc'] for r in mine]):.3f} "
            f"({np.mean([r['macro_auc_without_baseline'] for r in mine]):.3f}) | "
            f"{np.mean([r['best_epoch'] for r in mine]):.1f} | {np.mean([r['nll_raw'] for r in mine]):.3f} → "
            f"{np.mean([r['nll_prior'] for r in mine]):.3f} → {np.mean([r['nll_calibrated'] for r in mine]):.3f} | "
            f"{np.mean([r['ece_raw'] for r in mine]):.3f} → {np.mean([r['ece_calibrated'] for r in mine]):.3f} | | | | |"
        )
    return "\n".join(lines)


def record(checkpoint: str | Path, rows: list[dict[str, Any]], command: str) -> None:
    """Store the runs in the checkpoint's ``model.json`` (``acceptance``) and its card."""
    from plugins.sta_lstm.lab.evaluation import record_in_checkpoint

    note = (
        f"`{command}`: each seed re-splits the synthetic patients, re-initialises and re-orders batches; both models are "
        f"trained as `make model` trains the bundled one ({SHIPPED}). Macro AUC on the test patients with their baseline (without it in brackets); "
        "NLL raw → after the prior correction → after the temperature; τ fitted on the calibration patients against τ "
        "fitted on the test patients themselves."
    )
    record_in_checkpoint(checkpoint, "acceptance", {"note": note, "command": command, "runs": rows})

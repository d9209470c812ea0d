"""The model at the frame rates live clients reach: frames dropped as a slow client drops them.

A live client runs Face Mesh as fast as it can and always takes the newest camera frame, so it keeps
one camera frame every ~1/fps seconds with jitter (software GL on 2 cores: 6-9 fps; a GPU: 30). Here
each kept frame is followed by a processing time drawn uniformly from 0.5/fps to 1.5/fps, the next
frame is the camera's newest at that moment, and the kept frames go through the live server's
resampling to 30 fps by capture time (``gateway.pipeline.timeline``): the same path live windows take.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from gateway import MODEL_FPS, LabelledClip, load_dataset, resample, to_grid

FRAME_RATES = (30.0, 15.0, 8.0)
JITTER = (0.5, 1.5)


def slow_client(clip: LabelledClip, fps: float, rng: np.random.Generator, max_gap_frames: int = 5) -> LabelledClip:
    """The clip as a client running at ``fps`` on average would stream it, back on the 30 fps grid."""
    points = resample(clip.landmarks[..., :2], clip.fps).astype(np.float32)  # the camera at 30 fps
    if fps >= MODEL_FPS:
        return replace(clip, landmarks=points, fps=MODEL_FPS)
    duration_ms = len(points) * 1000.0 / MODEL_FPS
    kept, t = [], 0.0
    while t < duration_ms:
        kept.append(int(t * MODEL_FPS / 1000.0))  # the newest camera frame at time t
        t += rng.uniform(*JITTER) * 1000.0 / fps
    kept = np.unique(kept)
    face = np.isfinite(points[kept]).all(axis=(1, 2))
    times = kept[face] * 1000.0 / MODEL_FPS
    grid = to_grid(times, points[kept[face]], 0.0, len(points), max_gap_frames)
    return replace(clip, landmarks=grid, fps=MODEL_FPS)


def evaluate_frame_rates(checkpoint: str | Path, data_dir: str | Path | None = None, split: str = "test", seed: int = 0) -> dict[str, Any]:
    """Calibrated metrics of the checkpoint's test windows at each of ``FRAME_RATES`` (no bootstrap).

    Without ``data_dir`` a synthetic checkpoint's split is regenerated from its recorded generator settings."""
    from plugins.sta_lstm.checkpoint import load_checkpoint
    from plugins.sta_lstm.lab.evaluation import evaluate, evaluation_windows
    from plugins.sta_lstm.lab.synthetic import regenerate

    model, manifest = load_checkpoint(checkpoint)
    if data_dir is None:
        clips = regenerate(manifest["training"]["dataset"]["synthetic"], manifest["training"]["splits"][split])
        data_dir = f"regenerated: {manifest['training']['dataset']['synthetic']['command']}"
    else:
        clips = load_dataset(data_dir)
    full = len(evaluation_windows(clips, manifest, split))
    rows = {}
    for fps in FRAME_RATES:
        rng = np.random.default_rng(seed)
        dropped = [c if c.is_neutral_baseline else slow_client(c, fps, rng) for c in clips]
        windows = evaluation_windows(dropped, manifest, split)
        point = evaluate(model, windows, resamples=0)["calibrated"]["point"]
        metrics = {k: round(float(point[k]), 4) for k in ("macro_auc", "macro_f1", "kappa_quadratic", "accuracy", "brier", "ece_top_label")}
        rows[f"{fps:g}"] = {"windows": len(windows), "windows_at_30_fps": full, **metrics}
    note = (f"Frames dropped as a slow live client drops them (newest frame after a processing time of {JITTER[0]:g}-{JITTER[1]:g}/fps, "
            f"seed {seed}), resampled to 30 fps by capture time as the live server does; test split, calibrated. "
            "Windows with a gap longer than 5 model frames are not scored (fewer windows). The live server also "
            "refuses windows with fewer than 15 frames (PAIN_GATEWAY_PLUGIN_LIVE_STREAM_MIN_WINDOW_FRAMES), so 8 fps "
            "windows are scored only where an operator lowers it.")  # fmt: skip
    return {"note": note, "dataset": str(data_dir), "rows": rows}


def table(record: dict[str, Any]) -> str:
    lines = ["| fps | windows scored | macro AUC | macro F1 | quadratic κ | accuracy | Brier | ECE |", "|---|---|---|---|---|---|---|---|"]
    for fps, r in record["rows"].items():
        lines.append(f"| {fps} | {r['windows']} of {r['windows_at_30_fps']} | {r['macro_auc']:.3f} | {r['macro_f1']:.3f} | "
                     f"{r['kappa_quadratic']:.3f} | {r['accuracy']:.3f} | {r['brier']:.3f} | {r['ece_top_label']:.3f} |")  # fmt: skip
    return record["note"] + "\n\n" + "\n".join(lines)

"""CPU training time per epoch for the STA-LSTM and the plain LSTM, on the same synthetic windows.

What a site pays to retrain: seconds per epoch of N windows with the default preset (batch 64, hidden
64), and per 1,000 windows, so the numbers scale to any dataset size. Data generation is excluded.

    python benchmarks/bench_training.py [--windows 512] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from plugins.sta_lstm.lab.synthetic import SynthConfig, generate_clip
from plugins.sta_lstm.lab.training import PRESETS, build_network, fit, standardise_on
from plugins.sta_lstm.lab.windows import window_set


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    preset = PRESETS["default"]
    clips, patient = [], 0
    while sum(len(c.labels) for c in clips) < args.windows:
        clips.append(generate_clip(patient, 0, SynthConfig(seconds=8)))
        patient += 1
    windows = window_set(clips)
    print(f"torch {torch.__version__}, {args.threads} threads, {len(windows)} windows, preset default (batch {preset.batch}, hidden {preset.hidden})")
    seconds = {}
    for model_name in ("sta-lstm", "plain-lstm"):
        torch.manual_seed(0)
        model = build_network(model_name, preset)
        standardise_on(model, windows)
        start = time.perf_counter()
        fit(model, windows, None, preset, seed=0, epochs=1)
        seconds[model_name] = time.perf_counter() - start
        print(f"{model_name:10s} {seconds[model_name]:6.1f} s/epoch  {1000 * seconds[model_name] / len(windows):6.1f} s per 1,000 windows")
    print(f"ratio STA/plain training time {seconds['sta-lstm'] / seconds['plain-lstm']:.1f}x")


if __name__ == "__main__":
    main()

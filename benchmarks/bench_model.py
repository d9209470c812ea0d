"""CPU latency and throughput of the STA-LSTM against a plain LSTM of the same width, in one process.

What the attention costs (the target is at most 2x the plain LSTM's batch-1 latency; the first,
landmark-level design with two full-width attention LSTMs cost 3.5x): batch-1 latency (p50/p99) is
what a live bedside stream pays per window, batch-256 throughput is what a bulk upload pays. Both models run on the same input with the same
thread count, so the ratios are comparable across machines even where the absolute numbers are not.

    python benchmarks/bench_model.py [--threads 2] [--runs 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from gateway.contract.domain import LANDMARK_COUNT, WINDOW_FRAMES
from plugins.sta_lstm.lab.training import PRESETS, build_network


def _timings(models: dict[str, torch.nn.Module], x: torch.Tensor, runs: int, warmup: int = 5) -> dict[str, np.ndarray]:
    """Seconds per call, alternating the models run by run so load from other processes hits both alike."""
    out: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for i in range(warmup + runs):
            for name, model in models.items():
                start = time.perf_counter()
                model(x)
                if i >= warmup:
                    out[name].append(time.perf_counter() - start)
    return {name: np.asarray(t) for name, t in out.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=100, help="batch-1 runs per model (>= 50 for a stable p99)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batch-runs", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    preset = PRESETS["default"]  # the shipped architecture: region attention, one small attention LSTM
    models = {"STA-LSTM": build_network("sta-lstm", preset).eval(), "PlainLSTM": build_network("plain-lstm", preset).eval()}
    print(f"torch {torch.__version__}, {args.threads} threads, input ({WINDOW_FRAMES}, {LANDMARK_COUNT}, 2)")
    single = _timings(models, torch.randn(1, WINDOW_FRAMES, LANDMARK_COUNT, 2), args.runs)
    bulk = _timings(models, torch.randn(args.batch, WINDOW_FRAMES, LANDMARK_COUNT, 2), args.batch_runs, warmup=1)
    results = {}
    for name, model in models.items():
        ms = single[name] * 1000
        r = results[name] = {"p50_ms": np.percentile(ms, 50), "p99_ms": np.percentile(ms, 99), "wps": args.batch / np.median(bulk[name])}
        params = sum(p.numel() for p in model.parameters())
        print(f"{name:10s} {params:>8,d} params  batch 1: p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  | batch {args.batch}: {r['wps']:.0f} windows/s")
    sta, plain = results["STA-LSTM"], results["PlainLSTM"]
    print(
        f"ratio STA/Plain  latency p50 {sta['p50_ms'] / plain['p50_ms']:.2f}x  p99 {sta['p99_ms'] / plain['p99_ms']:.2f}x"
        f"  throughput {sta['wps'] / plain['wps']:.2f}x"
    )
    typicality_cost(args.runs)


def typicality_cost(runs: int) -> None:
    """The bundled checkpoint's batch-1 window with and without its typicality (the issue's bound: 2x)."""
    from plugins.sta_lstm import BUNDLED_CHECKPOINT
    from plugins.sta_lstm.checkpoint import load_checkpoint, load_typicality
    from plugins.sta_lstm.network import infer

    network, manifest = load_checkpoint(BUNDLED_CHECKPOINT)
    density = load_typicality(BUNDLED_CHECKPOINT, manifest)
    x = np.random.default_rng(0).normal(0.0, 0.3, (1, WINDOW_FRAMES, LANDMARK_COUNT, 2)).astype(np.float32)
    timings: dict[str, list[float]] = {"probabilities": [], "with typicality": []}
    for i in range(5 + runs):
        for name in timings:  # alternating, so load from other processes hits both alike
            start = time.perf_counter()
            features = infer(network, x)[3]
            if name == "with typicality":
                density.typicality(features)
            if i >= 5:
                timings[name].append(time.perf_counter() - start)
    base, typical = (np.median(timings[name]) * 1000 for name in timings)
    print(f"bundled checkpoint batch 1: p50 {base:.2f} ms, with typicality {typical:.2f} ms: {typical / base:.2f}x")


if __name__ == "__main__":
    main()

"""Per-window latency of two checkpoints on one thread, in one process (issue 25: at most 2x today's).

Loads each checkpoint directory as the gateway serves it (weights, temperature, prior correction) and
times batch-1 inference of the same random window, alternating the models run by run so load from
other processes hits both alike; prints p50/p99 per checkpoint and the ratio against the first one.

    python benchmarks/bench_model_versions.py OLD_CHECKPOINT NEW_CHECKPOINT [--runs 200]

The old checkpoint can be taken from git history, e.g.
``git archive <commit> plugins/sta_lstm/checkpoints/sta-lstm-synthetic-0.3 | tar -x -C /tmp``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from gateway.contract.domain import LANDMARK_COUNT, WINDOW_FRAMES
from plugins.sta_lstm.checkpoint import load_checkpoint


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    models = {str(p): load_checkpoint(p)[0].eval() for p in args.checkpoints}
    x = torch.from_numpy(np.random.default_rng(0).normal(0.5, 0.1, (1, WINDOW_FRAMES, LANDMARK_COUNT, 2)).astype(np.float32))
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for i in range(args.runs + 10):
            for name, model in models.items():
                start = time.perf_counter()
                model(x)
                if i >= 10:
                    times[name].append(time.perf_counter() - start)
    first = None
    for name, t in times.items():
        ms = np.asarray(t) * 1000
        p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
        first = first or p50
        print(f"{name}: batch 1, 1 thread: p50 {p50:.2f} ms  p99 {p99:.2f} ms  ratio to first {p50 / first:.2f}x")


if __name__ == "__main__":
    main()

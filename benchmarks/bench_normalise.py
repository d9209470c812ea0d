"""Throughput of ``normalise_frames`` (one batched Umeyama for the clip) vs a per-frame Python loop.

Both run in this process on the same 3000 frames (100 s of 30 fps video, perturbed copies of the
committed real-face fixture); the loop is the obvious implementation the vectorised one replaces.
Run: python benchmarks/bench_normalise.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from gateway.pipeline.landmarks import ANCHORS, TARGET, normalise_frames, umeyama

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "astronaut_face_5s.npz"
FRAMES = 3000


def per_frame_loop(points: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Baseline: one Umeyama fit and transform per frame."""
    out = np.empty(points.shape[:2] + (2,), dtype=np.float32)
    for f, frame in enumerate(points):
        xy = frame[:, :2] * image_size
        scale, rot, t = umeyama(xy[list(ANCHORS)], TARGET)
        out[f] = scale * xy @ rot.T + t
    return out


def best_of(fn, points: np.ndarray, image_size: tuple[int, int], repeats: int = 5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(points, image_size)
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    fixture = np.load(FIXTURE)
    base, image_size = fixture["points"], tuple(int(v) for v in fixture["image_size"])
    rng = np.random.default_rng(0)
    points = base[np.arange(FRAMES) % len(base)]
    points = points + rng.normal(0, 1e-3, points.shape).astype(np.float32)
    vectorised_s, vectorised = best_of(normalise_frames, points, image_size)
    loop_s, looped = best_of(per_frame_loop, points, image_size)
    np.testing.assert_allclose(vectorised, looped, atol=1e-5)
    print(f"frames: {FRAMES} x 468 landmarks")
    for label, seconds in (("normalise_frames (vectorised)", vectorised_s), ("per-frame loop", loop_s)):
        print(f"{label:30} {FRAMES / seconds:10,.0f} frames/s ({seconds * 1e3:.1f} ms)")
    print(f"speed-up: {loop_s / vectorised_s:.1f}x")


if __name__ == "__main__":
    main()

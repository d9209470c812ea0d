"""Bytes on disk and write time of kept landmarks: the format kept before (every frame, uncompressed
``np.savez``) vs ``gateway.storage.kept_landmarks.keep`` (face frames only, ``np.savez_compressed``).

Both write the same clips in this process: (a) an 18,000-frame .npz of one constant face (10 min at
30 fps), (b) a live session of 60 frames spread over 600 s on the 30 fps grid it is scored on,
(c) 100 normal 5-s clips (the committed real-face fixture). The write time is the CPU the scoring
process (or thread) spends per clip after scoring it.
Run: python benchmarks/bench_kept_landmarks.py
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gateway.contract.domain import LandmarkClip, PatientRef
from gateway.pipeline.timeline import to_grid
from gateway.storage import kept_landmarks

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "astronaut_face_5s.npz"


def keep_before(clip: LandmarkClip, data_dir: str, assessment_id: str) -> int:
    """The format kept before: ``np.savez`` of every frame (commit 65e6499)."""
    target = kept_landmarks.path(data_dir, assessment_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        target, points=clip.points.astype(np.float32), fps=clip.fps, image_size=np.array(clip.image_size or (0, 0)), captured_at=clip.captured_at.isoformat()
    )
    return target.stat().st_size


def clip_of(points: np.ndarray) -> LandmarkClip:
    return LandmarkClip(PatientRef(value="p1"), datetime(2026, 11, 23, 10, tzinfo=UTC), 30.0, points, (640, 480))


def measure(keep, clips: list[LandmarkClip]) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        total = sum(keep(clip, data_dir, f"a-{i}") for i, clip in enumerate(clips))
        return total, (time.perf_counter() - started) / len(clips)


def main() -> None:
    with np.load(FIXTURE) as data:
        face = data["points"].astype(np.float32)
    constant = np.repeat(face[:1], 18_000, axis=0)
    times = np.arange(60) * 10_000.0  # one frame every 10 s
    live = to_grid(times, np.repeat(face[:1, :, :2], 60, axis=0), 0.0, int(times[-1] * 30 / 1000) + 1, 5)
    cases = {
        "(a) 18,000 constant frames": [clip_of(constant)],
        "(b) live: 60 frames over 600 s": [clip_of(live)],
        "(c) 100 normal 5-s clips": [clip_of(face)] * 100,
    }
    print(f"{'case':34} {'before':>12} {'after':>12} {'ratio':>8} {'write before':>13} {'write after':>12}")
    for name, clips in cases.items():
        before, before_s = measure(keep_before, clips)
        after, after_s = measure(kept_landmarks.keep, clips)
        print(f"{name:34} {before:>12,} {after:>12,} {before / after:>7.1f}x {before_s * 1000:>10.1f} ms {after_s * 1000:>9.1f} ms")
    # the loss check: what is read back is what was scored
    with tempfile.TemporaryDirectory() as data_dir:
        kept_landmarks.keep(clip_of(live), data_dir, "x")
        kept = kept_landmarks.load(data_dir, "x")
        assert kept is not None
        np.testing.assert_array_equal(kept.points, live)


if __name__ == "__main__":
    main()

"""Video throughput: end to end against the decode + Face Mesh bound, on the same file in one process.

Writes a 10 s 1280x720 H.264 face video (temp dir), then measures (a) decode only, (b) decode + Face
Mesh in a plain loop (the bound the pipeline can approach), (c) ``extract_landmarks`` + ``prepare`` +
the bundled STA-LSTM. Each is run ``--rounds`` times interleaved and the best round counts, because
other processes on a 2-core machine add noise that only ever slows a round down.

    python benchmarks/bench_video.py [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.videos import face_video

from gateway.contract.domain import PatientRef
from gateway.pipeline.facemesh import FaceMeshTracker
from gateway.pipeline.landmarks import prepare
from plugins.sta_lstm import StaLstmModel
from plugins.video_upload.decode import iter_frames
from plugins.video_upload.extract import extract_landmarks


def decode_only(path: Path) -> int:
    return sum(1 for _ in iter_frames(path))


def decode_and_face_mesh(path: Path) -> int:
    with FaceMeshTracker() as tracker:
        return sum(1 for _, frame in iter_frames(path) if tracker.process(frame) is not None)


def end_to_end(path: Path, model: StaLstmModel) -> int:
    landmarks = extract_landmarks(path)
    windows = prepare(landmarks.to_clip(PatientRef(value="bench"), datetime.now(UTC)))
    model.predict(windows)
    return landmarks.points.shape[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    model = StaLstmModel()
    with tempfile.TemporaryDirectory() as tmp:
        path = face_video(Path(tmp) / "face_720p.mp4", seconds=args.seconds, size=(1280, 720), fourcc="avc1")
        print(f"{path.name}: {args.seconds:g} s, 1280x720 H.264, {path.stat().st_size / 1e6:.1f} MB")
        stages = {
            "(a) decode only": lambda: decode_only(path),
            "(b) decode + Face Mesh (bound)": lambda: decode_and_face_mesh(path),
            "(c) end to end (extract + prepare + STA-LSTM)": lambda: end_to_end(path, model),
        }
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, run in stages.items():
                start = time.perf_counter()
                frames = run()
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    for name, seconds in best.items():
        print(f"{name:48s} {frames / seconds:7.1f} frames/s  {args.seconds / seconds:5.2f}x real time")
    bound, e2e = best["(b) decode + Face Mesh (bound)"], best["(c) end to end (extract + prepare + STA-LSTM)"]
    print(f"end to end / bound: {bound / e2e:.2f} (throughput ratio; 1.00 = no overhead beyond decode + Face Mesh)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()

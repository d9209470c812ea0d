"""Peak memory of video landmark extraction by video length: flat, not proportional to duration.

Writes synthetic H.264 face videos (``tests/support/videos.py``, PyAV) of 1 and 10 minutes, small
(320x240 at 15 fps, so it runs in a few minutes on 2 cores; the 30 fps timeline is the same), then
runs ``extract_landmarks`` on each in this process and prints the peak RSS growth above the RSS before
the run, and its ratio to the 1-minute run; then the same less the landmarks array (the output). Peak RSS is the kernel's high-water mark (``VmHWM``),
reset before each run through ``/proc/self/clear_refs`` (Linux). A warm-up run on a short clip loads
MediaPipe first, so its one-off cost is not charged to the 1-minute run.

The landmarks themselves are the only part that grows with duration: (frames, 468, 3) float32, 5.6 KB
per timeline frame, 10 MB per minute; decoded frames are streamed (at most three held).

    python benchmarks/bench_video_memory.py [--minutes 1 10] [--size 320x240] [--fps 15]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.videos import face_video

from plugins.video_upload.extract import extract_landmarks


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key}")


def peak_rss_growth_mb(run) -> tuple[float, float, object]:
    """(peak RSS above the RSS at the start in MB, seconds, result) of ``run()``."""
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kb("VmRSS")
    started = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - started
    return (_status_kb("VmHWM") - before) / 1024, elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--fps", type=float, default=15)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        extract_landmarks(face_video(Path(tmp) / "warmup.mp4", seconds=2, fps=args.fps, size=size, fourcc="avc1"))
        print(f"idle RSS after warm-up: {_status_kb('VmRSS') / 1024:.0f} MB; videos {args.size} at {args.fps:g} fps, H.264")
        print(
            f"{'video':>8} {'file MB':>8} {'timeline frames':>16} {'landmarks MB':>13} {'peak RSS +MB':>13} {'ratio':>6} "
            f"{'less landmarks':>15} {'ratio':>6} {'extract s':>10}"
        )
        reference = working_reference = None
        for minutes in args.minutes:
            path = face_video(Path(tmp) / f"{minutes:g}min.mp4", seconds=minutes * 60, fps=args.fps, size=size, fourcc="avc1")
            growth, elapsed, result = peak_rss_growth_mb(lambda p=path: extract_landmarks(p))
            working = growth - result.points.nbytes / 2**20  # decoding and Face Mesh, without the output itself
            reference, working_reference = reference or growth, working_reference or working
            print(
                f"{minutes:>6g} m {path.stat().st_size / 2**20:>8.1f} {len(result.points):>16} {result.points.nbytes / 2**20:>13.1f} "
                f"{growth:>13.0f} {growth / reference:>6.2f} {working:>15.0f} {working / working_reference:>6.2f} {elapsed:>10.1f}"
            )
            del result
            path.unlink()


if __name__ == "__main__":
    main()

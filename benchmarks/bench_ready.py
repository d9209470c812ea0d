"""Ready means ready: a 10-second 1280x720 face video sent the moment ``/ready`` first answers 200 on a freshly
started ``pain-gateway serve`` (embedded jobs), then the same video again. Issue 26: before ``/ready``
waited for the processes to load their models, the first took 5.3 s against 1.2-1.4 s for the next.
Prints both times, the ratio, and how long ``/ready`` said 503 (``model``: ``warming: ...``).

``python benchmarks/bench_ready.py``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.serve import CLI, live_gateway  # noqa: E402
from support.videos import face_video  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        video = face_video(Path(tmp) / "visit.mp4", seconds=10.0, size=(1280, 720))
        started = time.perf_counter()
        with live_gateway(Path(tmp), start_s=300) as gateway:
            health_s = time.perf_counter() - started
            warming: list[str] = []
            while (ready := httpx.get(f"{gateway.origin}/ready", timeout=60)).status_code != 200:
                warming.append(ready.json()["checks"]["model"])
                time.sleep(0.05)
            ready_s = time.perf_counter() - started
            token = subprocess.run(
                [str(CLI), "tokens", "create", "--name", "bench", "--role", "telehealth"], cwd=ROOT, env=gateway.env, capture_output=True, text=True, check=True
            ).stdout.strip()
            headers = {"Authorization": f"Bearer {token}"}
            metadata = json.dumps({"patient": {"reference": "Patient/bench"}, "captured_at": "2026-11-23T10:00:00Z"})
            times = []
            with httpx.Client(base_url=gateway.origin, timeout=300) as client:
                for _ in range(2):
                    begun = time.perf_counter()
                    with video.open("rb") as handle:
                        response = client.post(
                            "/v1/assessments", files={"video": (video.name, handle, "video/mp4")}, data={"metadata": metadata}, headers=headers
                        )
                    response.raise_for_status()
                    location = httpx.URL(response.headers["location"]).path
                    while (body := client.get(location, headers=headers).json())["status"] not in ("completed", "failed"):
                        time.sleep(0.05)
                    assert body["status"] == "completed", body
                    times.append(time.perf_counter() - begun)
    print(f"serve: /health after {health_s:.1f} s, /ready 200 after {ready_s:.1f} s ({len(warming)} answers 503 before, e.g. {warming[:1]})")
    print(f"10-s 1280x720 video right after /ready: first {times[0]:.2f} s, second {times[1]:.2f} s, first/second {times[0] / times[1]:.2f}x")


if __name__ == "__main__":
    main()

"""A 10-second 1280x720 face video through the real HTTP API, in embedded mode and in distributed
mode (procrastinate on PostgreSQL with one `pain-gateway worker`): wall time from upload to completed
for the first job (the one a cold worker would pay start-up for) and a second, the progress seen while
polling (every 50 ms), and the ratio to the same pipeline in-process (extract + score, already loaded).

Distributed mode uses PGW_BENCH_POSTGRES_URL (default: the test database), whose public schema it
drops and recreates.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from support.ports import free_port  # noqa: E402

CLI = Path(sys.executable).parent / "pain-gateway"
SECONDS = 10.0
JOBS = 2
WORKER_START_S = 15.0  # how long the gateway / worker runs before the first upload


async def _token(url: str) -> str:
    from gateway.storage.engine import create_engine
    from gateway.storage.tokens import TokenStore

    engine = create_engine(url)
    secret = (await TokenStore(engine).create("bench", "telehealth"))[1]
    await engine.dispose()
    return secret


def run(mode: str, video: Path, tmp: Path) -> tuple[float, list[int]]:
    from gateway.contract.plugin_manager import build_plugins
    from gateway.ops.settings import Settings
    from gateway.storage.migrate import upgrade
    from gateway.web.app import create_app

    worker = None
    if mode == "embedded":
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        settings = Settings(database_url=url, data_dir=str(tmp / "data-embedded"))
        upgrade(url)
    else:
        from bench_workers import URL, reset

        url = URL
        reset(url)
        settings = Settings(database_url=url, job_engine="procrastinate", data_dir=str(tmp / "data-distributed"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")}
        env |= {
            "PAIN_GATEWAY_DATABASE_URL": url,
            "PAIN_GATEWAY_JOB_ENGINE": "procrastinate",
            "PAIN_GATEWAY_DATA_DIR": settings.data_dir,
            "PAIN_GATEWAY_LOG_LEVEL": "warning",
        }
        token = asyncio.run(_token(url))  # before the worker starts, which migrates the same schema
        worker = subprocess.Popen([str(CLI), "worker", "--concurrency", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if worker is None:
        token = asyncio.run(_token(url))
    port = free_port()
    app = create_app(settings, build_plugins(settings, environ={}), warm=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    time.sleep(WORKER_START_S)  # a gateway or worker starts before videos arrive: its start-up is not the first job's
    headers = {"Authorization": f"Bearer {token}"}
    metadata = json.dumps({"patient": {"reference": "Patient/bench"}, "captured_at": "2026-11-23T10:00:00Z"})
    rounds = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        for _ in range(JOBS):
            progress = []
            started = time.perf_counter()
            with video.open("rb") as handle:
                response = client.post("/v1/assessments", files={"video": (video.name, handle, "video/mp4")}, data={"metadata": metadata}, headers=headers)
            response.raise_for_status()
            location = httpx.URL(response.headers["location"]).path  # absolute, on the configured public port
            while True:
                body = client.get(location, headers=headers).json()
                if not progress or progress[-1] != body["progress"]:
                    progress.append(body["progress"])
                if body["status"] in ("completed", "failed"):
                    break
                time.sleep(0.05)
            rounds.append(time.perf_counter() - started)
            if body["status"] != "completed":
                break
    server.should_exit = True
    thread.join()
    if worker is not None:
        worker.terminate()
        worker.wait()
    if body["status"] != "completed":
        raise SystemExit(f"{mode}: {body['status']}: {body.get('error')}")
    return rounds, progress


def in_process(video: Path) -> float:
    """The same pipeline without HTTP, database or worker — extract, then score as a job does (windows,
    model, explainers, quality, summary) — best of two, model and MediaPipe loaded."""
    from datetime import UTC, datetime

    from gateway.contract.domain import PatientRef
    from gateway.contract.plugin_manager import build_plugins
    from gateway.ops.settings import Settings
    from gateway.pipeline.scoring import score_clip
    from plugins.video_upload.extract import extract_landmarks

    plugins, best = build_plugins(Settings(), environ={}), float("inf")
    for _ in range(2):
        started = time.perf_counter()
        landmarks = extract_landmarks(video)
        score_clip(landmarks.to_clip(PatientRef(value="bench"), datetime.now(UTC)), plugins)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    from support.videos import face_video

    from gateway.ops.log import configure_logging

    configure_logging("json", "warning")
    tmp = Path(tempfile.mkdtemp())
    video = face_video(tmp / "visit.mp4", seconds=SECONDS, size=(1280, 720))
    modes = sys.argv[1:] or ["embedded", "distributed"]
    print(f"{SECONDS:g}-second 1280x720 face video through the HTTP API, {JOBS} jobs one after the other")
    results = {mode: run(mode, video, tmp) for mode in modes}
    base = in_process(video)
    print(f"  in-process : {base:5.2f} s (extract + score, loaded)")
    for mode, (rounds, progress) in results.items():
        jobs = ", ".join(f"job {i + 1} {t:5.2f} s ({base / t:.2f}x in-process)" for i, t in enumerate(rounds))
        print(f"  {mode:<11}: {jobs}; progress seen: {progress}")


if __name__ == "__main__":
    main()

"""Distributed scaling: the same batch of face videos through 1 and then 2 `pain-gateway worker`
processes on PostgreSQL (ratio of throughputs), and the peak memory (VmHWM) of a worker.

Uses PGW_BENCH_POSTGRES_URL (default: the test database on 127.0.0.1), whose public schema it
drops and recreates.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

URL = os.environ.get("PGW_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CLI = Path(sys.executable).parent / "pain-gateway"
VIDEOS, SECONDS = 6, 4.0


def reset(url: str) -> None:
    from gateway.service.jobs.distributed import apply_schema, conninfo
    from gateway.storage.migrate import upgrade

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    upgrade(url)
    asyncio.run(apply_schema(url))


async def submit(settings, videos: list[Path], first: int = 0) -> list[str]:
    from gateway.contract.plugin_manager import build_plugins
    from gateway.contract.protocols import CaptureRequest, UploadedFile
    from gateway.service.jobs.distributed import DistributedJobs
    from gateway.storage.jobs import SubmissionStore

    jobs = DistributedJobs(build_plugins(settings, environ={}))
    ids = []
    async with jobs.app.open_async():
        store = SubmissionStore((await jobs.context()).engine)
        for n, video in enumerate(videos):
            metadata = json.dumps({"patient": {"reference": f"Patient/b{n}"}, "captured_at": "2026-11-23T10:00:00Z"})
            request = CaptureRequest("multipart/form-data", fields={"metadata": metadata}, files={"video": UploadedFile(video.name, "video/mp4", video)})
            sub, _ = await store.create(f"00000000-0000-4000-8000-{first + n:012d}", "video_upload", request.as_record(), None, jobs.enqueue_processing)
            ids.append(sub.id)
        await jobs.stop()
    return ids


def completed(url: str) -> int:
    from gateway.service.jobs.distributed import conninfo

    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute("select count(*) from submissions where status in ('completed', 'failed')").fetchone()[0]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(workers: int, videos: list[Path], data_dir: str) -> tuple[float, float]:
    from gateway.ops.settings import Settings

    reset(URL)
    settings = Settings(database_url=URL, job_engine="procrastinate", data_dir=data_dir, retain_video=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")}
    env |= {
        "PAIN_GATEWAY_DATABASE_URL": URL,
        "PAIN_GATEWAY_JOB_ENGINE": "procrastinate",
        "PAIN_GATEWAY_DATA_DIR": data_dir,
        "PAIN_GATEWAY_RETAIN_VIDEO": "true",
        "PAIN_GATEWAY_LOG_LEVEL": "warning",
    }
    procs = [
        subprocess.Popen(
            [str(CLI), "worker", "--concurrency", "1", "--queue", "cpu", "--queue", "io"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(workers)
    ]
    asyncio.run(submit(settings, videos[:workers], first=1000))  # warm-up: each worker loads MediaPipe and torch
    while completed(URL) < workers:
        time.sleep(0.2)
    started = time.perf_counter()
    asyncio.run(submit(settings, videos))
    while completed(URL) < workers + len(videos):
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    peak = max(peak_rss_mb(p.pid) for p in procs)
    for p in procs:
        p.terminate()
        p.wait()
    return elapsed, peak


def main() -> None:
    from support.videos import face_video

    tmp = Path(tempfile.mkdtemp())
    videos = [face_video(tmp / f"v{n}.mp4", seconds=SECONDS, size=(640, 480)) for n in range(VIDEOS)]
    video_s = VIDEOS * SECONDS
    one, peak1 = run(1, videos, str(tmp / "data1"))
    two, peak2 = run(2, videos, str(tmp / "data2"))
    print(f"{VIDEOS} face videos of {SECONDS:g} s (640x480), procrastinate on PostgreSQL, {os.cpu_count()} cores")
    print(f"  1 worker : {one:6.1f} s  ({video_s / one:.2f}x real time)  peak worker RSS {peak1:.0f} MiB")
    print(f"  2 workers: {two:6.1f} s  ({video_s / two:.2f}x real time)  peak worker RSS {peak2:.0f} MiB")
    print(f"  scaling 2 workers / 1 worker: {one / two:.2f}x")


if __name__ == "__main__":
    main()

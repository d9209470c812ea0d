"""Keypoint-scoring latency through the real HTTP API at concurrency 8, split into model time and
gateway overhead, against scoring the same clip in-process (the baseline, same process)."""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.ports import free_port  # noqa: E402

FIXTURE = ROOT / "tests" / "data" / "astronaut_face_5s.npz"
CONCURRENCY = 8
REQUESTS = 48


def _body(points: np.ndarray, n: int) -> bytes:
    return json.dumps(
        {
            "patient": {"identifier": {"system": "urn:bench", "value": f"p{n}"}},
            "fps": 30,
            "captured_at": f"2026-11-23T10:{n // 60:02d}:{n % 60:02d}Z",
            "image_size": [640, 480],
            "frames": points.round(6).tolist(),
        }
    ).encode()


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


async def _load(url: str, token: str, bodies: list[bytes]) -> list[tuple[float, float]]:
    semaphore = asyncio.Semaphore(CONCURRENCY)
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def one(body: bytes) -> tuple[float, float]:
            async with semaphore:
                started = time.perf_counter()
                response = await client.post("/v1/assessments", content=body, headers=headers)
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                timing = dict(part.strip().split(";dur=") for part in response.headers["server-timing"].split(","))
                return elapsed * 1000, float(timing["model"])

        return await asyncio.gather(*(one(b) for b in bodies))


def main() -> None:
    from gateway.contract.plugin_manager import build_plugins
    from gateway.contract.protocols import CaptureRequest
    from gateway.ops.log import configure_logging
    from gateway.ops.settings import Settings
    from gateway.pipeline.scoring import score_clip
    from gateway.storage.migrate import upgrade
    from gateway.storage.tokens import TokenStore
    from gateway.web.app import create_app

    configure_logging("json", "warning")
    with np.load(FIXTURE) as data:
        points = data["points"]
    tmp = tempfile.mkdtemp()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/bench.db")
    upgrade(settings.database_url)
    plugins = build_plugins(settings, environ={})
    bodies = [_body(points, n) for n in range(REQUESTS)]

    source = plugins.capture_sources[0]
    gc.freeze()  # as the app does at start-up, so baseline and API run under the same GC conditions
    direct, direct_model = [], []
    for body in bodies[:12]:  # baseline: parse + score in-process, no HTTP, no database
        started = time.perf_counter()
        scored = score_clip(source.capture(CaptureRequest("application/json", body=body)), plugins)
        direct.append((time.perf_counter() - started) * 1000)
        direct_model.append(scored.model_s * 1000)

    async def token() -> str:
        from gateway.storage.engine import create_engine

        engine = create_engine(settings.database_url)
        secret = (await TokenStore(engine).create("bench", "integrator"))[1]
        await engine.dispose()
        return secret

    secret = asyncio.run(token())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, plugins), host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    started = time.perf_counter()
    results = asyncio.run(_load(f"http://127.0.0.1:{port}", secret, bodies))
    wall = time.perf_counter() - started
    server.should_exit = True
    thread.join()

    latency = [r[0] for r in results]
    model = [r[1] for r in results]
    overhead = [lat - m for lat, m in results]
    print(f"API keypoint scoring, 5-s clip (150 frames x 468), {REQUESTS} requests at concurrency {CONCURRENCY}")
    print(f"  baseline in-process parse+score, serial: p50 {statistics.median(direct):7.1f} ms (model {statistics.median(direct_model):.1f} ms)")
    print(f"  API request latency:          p50 {statistics.median(latency):7.1f} ms   p99 {_pct(latency, 99):7.1f} ms")
    print(f"    model time (server-timing): p50 {statistics.median(model):7.1f} ms   p99 {_pct(model, 99):7.1f} ms")
    print(f"    gateway overhead:           p50 {statistics.median(overhead):7.1f} ms   p99 {_pct(overhead, 99):7.1f} ms")
    print(f"  throughput: {REQUESTS / wall:.1f} requests/s")
    print(
        f"  ratio API p50 / in-process p50: {statistics.median(latency) / statistics.median(direct):.2f}x "
        f"(queueing at concurrency {CONCURRENCY} on {__import__('os').cpu_count()} cores included)"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()

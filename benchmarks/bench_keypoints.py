"""Keypoint parsing and its in-process bound, before/after, and the API at concurrency 16 against that bound.

This process measures the old parse (whole-body ``msgspec.json.decode`` + ``numpy.array``, kept here as
the reference), the previous strict per-frame msgspec parse, the simdjson fast path and the binary
form, then parse + score in-process, serially (the bound). Then ``pain-gateway serve`` as shipped (its
scoring processes included) takes the same JSON clips from 16 concurrent clients, on SQLite and on
PostgreSQL (``PGW_BENCH_POSTGRES_URL``, default the test database: its public schema is dropped and
recreated); the ratio is its throughput over the bound's.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import bench_api
import httpx
import msgspec
import numpy as np
from bench_api import FIXTURE, _body, _load
from bench_workers import URL as POSTGRES_URL
from bench_workers import reset
from support.ports import free_port  # tests/ is on sys.path: bench_api puts it there

from plugins.keypoint_upload.binary import MEDIA_TYPE, encode_clip
from plugins.keypoint_upload.parsing import _Frame, _JsonSubmission

CONCURRENCY = 16
WARM_REQUESTS, TIMED = 4, 128  # the first requests warm each scoring process's first pass at this size
REQUESTS = WARM_REQUESTS + TIMED
REPEATS = 31
WARM_S = 5.0
CLI = Path(sys.executable).parent / "pain-gateway"


def old_parse(body: bytes) -> np.ndarray:
    """The reference: every coordinate a Python float (~210k of them), then one array."""
    frames = msgspec.json.decode(body)["frames"]
    shape = next(np.shape(f) for f in frames if f is not None)
    return np.array([np.full(shape, np.nan) if f is None else f for f in frames], dtype=np.float64)


def strict_parse(body: bytes) -> np.ndarray:
    """The previous parser's core: each frame decoded by msgspec into typed tuples, one at a time."""
    frames = msgspec.json.decode(body, type=_JsonSubmission).frames
    out = None
    for i, raw in enumerate(frames):
        frame = msgspec.json.decode(raw, type=_Frame)
        if frame is not None:
            out = np.full((len(frames), len(frame), len(frame[0])), np.nan) if out is None else out
            out[i] = frame
    return out


def p50(fn, *args) -> float:
    fn(*args)
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn(*args)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    from gateway.contract.plugin_manager import build_plugins
    from gateway.contract.protocols import CaptureRequest
    from gateway.ops.log import configure_logging
    from gateway.ops.settings import Settings
    from gateway.pipeline.scoring import score_clip
    from gateway.storage.migrate import upgrade

    configure_logging("json", "warning")
    with np.load(FIXTURE) as data:
        points = data["points"]
    tmp = tempfile.mkdtemp()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/bench.db")
    upgrade(settings.database_url)
    plugins = build_plugins(settings, environ={})
    source = next(s for s in plugins.capture_sources if s.name == "keypoint_upload")
    bodies = [_body(points, n) for n in range(REQUESTS)]
    body = bodies[0]
    binary = encode_clip(points, 30, datetime(2026, 11, 23, 10, tzinfo=UTC), {"reference": "Patient/p1"}, (640, 480))
    gc.freeze()  # as the app does at start-up

    def capture(media_type: str, data: bytes):
        return source.capture(CaptureRequest(media_type, body=data))

    clip = capture("application/json", body)
    assert np.array_equal(clip.points, old_parse(body), equal_nan=True)
    old = p50(old_parse, body)
    strict = p50(strict_parse, body)
    new = p50(capture, "application/json", body)
    binary_parse = p50(capture, MEDIA_TYPE, binary)
    score = p50(score_clip, clip, plugins)
    bound_old = p50(lambda: (old_parse(body), score_clip(clip, plugins)))
    bound_new = p50(lambda: score_clip(capture("application/json", body), plugins))
    bound_binary = p50(lambda: score_clip(capture(MEDIA_TYPE, binary), plugins))

    bench_api.CONCURRENCY = CONCURRENCY
    api, bounds = {}, [bound_new]
    for name, url in (("SQLite", settings.database_url), ("PostgreSQL", POSTGRES_URL)):
        if name == "PostgreSQL":
            reset(url)
        api[name] = serve_and_load(url, tmp, bodies)
        bounds.append(p50(lambda: score_clip(capture("application/json", body), plugins)))  # the machine drifts: bracket each run
    gc.disable()
    bound_old_no_gc = p50(lambda: (old_parse(body), score_clip(clip, plugins)))
    gc.enable()

    print(f"Keypoint JSON, 5-s clip ({points.shape[0]} frames x 468 x 3, {len(body) / 2**20:.1f} MB; binary {len(binary) / 2**10:.0f} kB), p50 of {REPEATS}")
    print(f"  parse: old reference (msgspec.decode + np.array) {old:6.1f} ms")
    print(f"         previous strict per-frame msgspec          {strict:6.1f} ms   {old / strict:4.1f}x vs old")
    print(f"         new (simdjson fast path, metadata checks)  {new:6.1f} ms   {old / new:4.1f}x vs old, {strict / new:4.1f}x vs previous")
    print(f"         binary {MEDIA_TYPE}      {binary_parse:6.1f} ms   {old / binary_parse:4.1f}x vs old")
    print(f"  score only (model, occlusion, checks; no FHIR)     {score:6.1f} ms")
    print(
        f"  bound (parse + score): old {bound_old:6.1f} ms   new {bound_new:6.1f} ms   {bound_old / bound_new:4.1f}x faster;"
        f"   binary {bound_binary:6.1f} ms   {bound_old / bound_binary:4.1f}x"
    )
    print(
        f"    (the old bound with the garbage collector off: {bound_old_no_gc:6.1f} ms, {bound_old_no_gc / bound_new:4.1f}x; the ~70k lists"
        " the old parse builds are what the collector walks)"
    )
    print(f"  the bound measured before, between and after the API runs: {', '.join(f'{b:.1f}' for b in bounds)} ms")
    for i, (name, (throughput, latency)) in enumerate(api.items()):
        bound = (bounds[i] + bounds[i + 1]) / 2
        print(
            f"  API (pain-gateway serve), {TIMED} JSON requests at concurrency {CONCURRENCY} on {name}, {os.cpu_count()} cores: "
            f"{throughput:5.1f} requests/s, p50 {statistics.median(latency):6.1f} ms, 0 errors;"
            f" / serial in-process bound around it ({1000 / bound:5.1f}/s): {throughput * bound / 1000:4.2f}x"
        )


def serve_and_load(url: str, tmp: str, bodies: list[bytes]) -> tuple[float, list[float]]:
    """``pain-gateway serve`` on ``url`` with the shipped settings; (requests/s, latencies in ms) of ``bodies``."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")}
    env |= {
        "PAIN_GATEWAY_DATABASE_URL": url,
        "PAIN_GATEWAY_DATA_DIR": f"{tmp}/data-{port}",
        "PAIN_GATEWAY_PORT": str(port),
        "PAIN_GATEWAY_LOG_LEVEL": "warning",
    }
    secret = asyncio.run(_token(url))
    server = subprocess.Popen([str(CLI), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        time.sleep(WARM_S)  # scoring processes and the video worker finish warming up before the clock starts
        asyncio.run(_load(base, secret, bodies[:WARM_REQUESTS]))
        started = time.perf_counter()
        results = asyncio.run(_load(base, secret, bodies[WARM_REQUESTS:]))
        wall = time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
    return TIMED / wall, [r[0] for r in results]


async def _token(url: str) -> str:
    from gateway.storage.engine import create_engine
    from gateway.storage.tokens import TokenStore

    engine = create_engine(url)
    secret = (await TokenStore(engine).create("bench", "integrator"))[1]
    await engine.dispose()
    return secret


if __name__ == "__main__":
    main()

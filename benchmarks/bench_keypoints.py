"""Keypoint parsing and its in-process bound, before/after, and the API at concurrency 16 against that bound.

One process: the old parse (whole-body ``msgspec.json.decode`` + ``numpy.array``, kept here as the
reference), the previous strict per-frame msgspec parse, the simdjson fast path and the binary form;
then parse + score in-process (the bound) and the same JSON clips through a real uvicorn server on SQLite.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime

import bench_api
import msgspec
import numpy as np
import uvicorn
from bench_api import FIXTURE, _body, _free_port, _load

from plugins.keypoint_upload.binary import MEDIA_TYPE, encode_clip
from plugins.keypoint_upload.parsing import _Frame, _JsonSubmission

CONCURRENCY = 16
REQUESTS = 64
REPEATS = 15


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
    from gateway.app import create_app
    from gateway.contracts import CaptureRequest
    from gateway.db.migrate import upgrade
    from gateway.log import configure_logging
    from gateway.plugins import build_plugins
    from gateway.scoring import score_clip
    from gateway.settings import Settings

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
    secret = asyncio.run(_token(settings))
    port = _free_port()
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
    throughput = REQUESTS / wall
    print(f"Keypoint JSON, 5-s clip ({points.shape[0]} frames x 468 x 3, {len(body) / 2**20:.1f} MB; binary {len(binary) / 2**10:.0f} kB), p50 of {REPEATS}")
    print(f"  parse: old reference (msgspec.decode + np.array) {old:6.1f} ms")
    print(f"         previous strict per-frame msgspec          {strict:6.1f} ms   {old / strict:4.1f}x vs old")
    print(f"         new (simdjson fast path, metadata checks)  {new:6.1f} ms   {old / new:4.1f}x vs old, {strict / new:4.1f}x vs previous")
    print(f"         binary {MEDIA_TYPE}      {binary_parse:6.1f} ms   {old / binary_parse:4.1f}x vs old")
    print(f"  score only (model, checks, FHIR-free)              {score:6.1f} ms")
    print(f"  bound (parse + score): old {bound_old:6.1f} ms   new {bound_new:6.1f} ms   {bound_old / bound_new:4.1f}x faster;"
          f"   binary {bound_binary:6.1f} ms   {bound_old / bound_binary:4.1f}x")
    print(f"  API, {REQUESTS} JSON requests at concurrency {CONCURRENCY} on SQLite, {os.cpu_count()} cores: {throughput:5.1f} requests/s, "
          f"p50 {statistics.median(latency):6.1f} ms, 0 errors")
    print(f"  API throughput / serial in-process bound ({1000 / bound_new:5.1f}/s): {throughput * bound_new / 1000:4.2f}x")


async def _token(settings) -> str:
    from gateway.db.engine import create_engine
    from gateway.store import TokenStore

    engine = create_engine(settings.database_url)
    secret = (await TokenStore(engine).create("bench", "integrator"))[1]
    await engine.dispose()
    return secret


if __name__ == "__main__":
    main()

"""The server's CPU per live session, in one process, before and after issue 26's changes: what one 30-fps
session costs each second (30 frames parsed and kept, one window closed, scored and stored), measured as the
best of several rounds so a loaded machine's stalls drop out, both ways in the same run:

* before: each frame checked with six numpy calls and copied twice (``parse_frame`` as it was), each
  second through the model alone (``score_windows``);
* after: each frame checked with two reductions and copied once (``parse_frame``), the seconds of
  ``BATCH`` sessions through one model call (``score_window_batch``).

Both also store each window with its session's resume state as the live plugin does (its row and grid into
SQLite, a batch per transaction): before, two statements per window; after, ``LiveStore.save_windows``'s
three statements per batch, each run for many rows. Prints the CPU
per session-second and the sessions one core could serve at that cost (an upper bound: the WebSocket layer
and the event loop come on top; ``bench_live.py`` measures the whole server end to end).

``python benchmarks/bench_live_cost.py [BATCH]`` (default 64).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from sqlalchemy import insert, update  # noqa: E402
from support.live import frames  # noqa: E402

from gateway.contract.domain import LandmarkClip, PatientRef  # noqa: E402
from gateway.contract.plugin_manager import build_plugins  # noqa: E402
from gateway.ops.settings import Settings  # noqa: E402
from gateway.pipeline.scoring import score_window_batch, score_windows  # noqa: E402
from gateway.storage.engine import create_engine  # noqa: E402
from gateway.storage.migrate import upgrade  # noqa: E402
from plugins.live_stream.protocol import HEADER, HEADER_BYTES, LANDMARK_COUNT, XY_RANGE, Z_LIMIT, Frame, parse_frame  # noqa: E402
from plugins.live_stream.session import LiveLimits, LiveSession  # noqa: E402
from plugins.live_stream.store import LiveStore, Resume, StoredWindow  # noqa: E402
from plugins.live_stream.tables import LiveSessionRow, LiveWindowRow  # noqa: E402

PATIENT = PatientRef(system="urn:bench", value="1")
ROUNDS = 7


def parse_frame_before(data: bytes) -> Frame:
    """``parse_frame`` before issue 26 (its checks; the header checks are the same and left out of both)."""
    _, _, _, sequence, captured_ms = HEADER.unpack_from(data)
    xyz = np.frombuffer(data, dtype="<f4", offset=HEADER_BYTES).reshape(LANDMARK_COUNT, 3)
    if not np.isfinite(xyz).all():
        raise ValueError("not finite")
    xy = xyz[:, :2]
    if xy.min() < XY_RANGE[0] or xy.max() > XY_RANGE[1]:
        raise ValueError("x, y")
    if np.abs(xyz[:, 2]).max() > Z_LIMIT:
        raise ValueError("z")
    return Frame(sequence, captured_ms, xy.astype(np.float32))


async def save_windows_before(store: LiveStore, windows: list[StoredWindow], size: tuple[int, int]) -> None:
    """``LiveStore.save_windows`` before: per window, the session's state updated where its take is current, then its row."""
    sessions, table = LiveSessionRow.__table__, LiveWindowRow.__table__
    async with store.engine.begin() as conn:
        for w in windows:
            r = w.resume
            assert r is not None
            state = dict(last_sequence=r.last_sequence, last_capture_ms=r.last_capture_ms, first_capture_ms=r.first_capture_ms)
            state |= dict(window_index=r.window_index, window_start_ms=r.window_start_ms, frames=r.frames, image_size=list(size))
            owned = sessions.c.id == w.session_id, sessions.c.taken == w.taken, sessions.c.status == "open"
            if (await conn.execute(update(sessions).where(*owned).values(**state))).rowcount == 1:
                row = dict(session_id=w.session_id, window_no=w.index, tenant=w.tenant, start_ms=w.start_ms, frames=w.frames)
                await conn.execute(insert(table).values(**row, result=w.result, grid=w.grid))


def best(fn, *args) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.process_time()
        fn(*args)
        times.append(time.process_time() - started)
    return min(times)


def frames_cost(parse, stream: list[bytes]) -> float:
    """CPU seconds per frame: parsed and added to a session (a window closes every 30)."""

    def run() -> None:
        session = LiveSession("s", "t", PATIENT, LiveLimits(max_session_frames=100_000, max_session_s=100_000))
        for data in stream:
            session.add(parse(data))

    return best(run) / len(stream)


def main() -> None:
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    plugins = build_plugins(Settings(), environ={})
    model = plugins.model()
    stream = [frame for _, frame in frames(30.0)]
    grid = np.stack([np.frombuffer(f, dtype="<f4", offset=HEADER_BYTES).reshape(LANDMARK_COUNT, 3)[:, :2] for f in stream[:30]]).astype(np.float32)
    clips = [LandmarkClip(PATIENT, datetime(2026, 12, 7, tzinfo=UTC), 30.0, grid + k * 1e-6, (640, 480)) for k in range(batch)]
    score_windows(clips[0], model, stride_s=1.0, max_gap_frames=5, baseline=None)  # load the weights

    frame_before, frame_after = frames_cost(parse_frame_before, stream), frames_cost(parse_frame, stream)
    window_before = best(lambda: [score_windows(c, model, stride_s=1.0, max_gap_frames=5, baseline=None) for c in clips]) / batch
    window_after = best(lambda: score_window_batch(clips, model, max_gap_frames=5, baselines=[None] * batch)) / batch

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade(url)

        async def store_cost(batched: bool) -> float:
            engine = create_engine(url)
            store = LiveStore(engine)
            ids = [f"{batched}-{k}" for k in range(batch)]
            for session_id in ids:
                await store.create(session_id, "t", PATIENT, time.time() + 3600, 10_000)
                await store.take(session_id, "bench", time.time() + 3600)
            blob = grid.tobytes()
            costs = []
            for round_ in range(ROUNDS):
                resume = Resume(30 * round_ + 29, 1000.0 * round_ + 967, 0.0, round_ + 1, 1000.0 * (round_ + 1), 0)
                windows = [StoredWindow(i, "t", round_, 1000.0 * round_, 30, {"index": round_}, blob, 1, resume) for i in ids]
                started = time.process_time()
                if batched:
                    await store.save_windows(windows, dict.fromkeys(ids, (640, 480)))
                else:
                    await save_windows_before(store, windows, (640, 480))
                costs.append(time.process_time() - started)
            await engine.dispose()
            return min(costs) / batch

        store_before, store_after = asyncio.run(store_cost(False)), asyncio.run(store_cost(True))

    per_second_before = 30 * frame_before + window_before + store_before
    per_second_after = 30 * frame_after + window_after + store_after
    print(f"Server CPU per 30-fps live session, per second of stream (best of {ROUNDS}, one process; windows in batches of {batch}):")
    fb, fa = 30 * frame_before * 1000, 30 * frame_after * 1000
    print(f"  frames (30 parsed and kept)  before {fb:6.2f} ms  after {fa:6.2f} ms  ({frame_before / frame_after:.1f}x)")
    print(f"  window scored (1 a second)   before {window_before * 1000:6.2f} ms  after {window_after * 1000:6.2f} ms  ({window_before / window_after:.1f}x)")
    print(f"  window stored (SQLite)       before {store_before * 1000:6.2f} ms  after {store_after * 1000:6.2f} ms  ({store_before / store_after:.1f}x)")
    print(
        f"  total                        before {per_second_before * 1000:6.2f} ms  after {per_second_after * 1000:6.2f} ms  "
        f"({per_second_before / per_second_after:.1f}x): at most {1 / per_second_before:.0f} → {1 / per_second_after:.0f} sessions per core "
        "before the WebSocket layer"
    )


if __name__ == "__main__":
    main()

"""Live scoring capacity, to its ceiling: N simulated bedside clients stream recorded Face Mesh landmarks (the
real face in tests/data/astronaut_face_5s.npz) at 30 fps, in real time, to a served gateway
(``pain-gateway serve``, its own process). The clients run in a process of their own pinned to one core,
the server (and its scoring processes) to another, so neither measures the other. Per N: window end →
result (from sending the frame that closes a window to receiving that window's result) p50/p99, windows
lost, the server's CPU per session (% of its core) and memory per session. N grows until p99 passes
300 ms; the last N within budget is the ceiling.

Then the same sweep against the server as it was before batching (``SCORE_BATCH=1``: each session's
second through the model alone), in the same run, so the machine's load is the same for both: the
ratio of the two ceilings and of their p99s at each N is what batching bought. Every second is also
stored as it is scored (SQLite here), as in production.

``python benchmarks/bench_live.py [SECONDS] [N ...]`` (defaults: 8 s, N = 64 96 128 160 192 256 320 384 448 512;
``PGW_BENCH_LIVE_FULL=1``: every N, even past the budget).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.live import PATIENT, frames  # noqa: E402
from support.serve import CLI, live_gateway  # noqa: E402

BUDGET_MS = 300.0
FULL = os.environ.get("PGW_BENCH_LIVE_FULL") == "1"
"""Go on past the first N over budget (for the ratios at every N on a loaded machine)."""
COUNTS = [64, 96, 128, 160, 192, 256, 320, 384, 448, 512]


def family(pid: int) -> list[int]:
    """The server and its children (the scoring processes)."""
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *(int(c) for c in children)]


def rss_mb(pid: int) -> float:
    listed = subprocess.run(["ps", "-o", "rss=", "-p", ",".join(map(str, family(pid)))], capture_output=True, text=True).stdout.split()
    return sum(int(kb) for kb in listed) / 1024


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of the server and its children (all their threads)."""
    total = 0.0
    for member in family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def client(
    origin: str, token: str, seconds: float, latencies: list[float], lost: list[int], stream: list[bytes], phases: list[tuple[float, float]]
) -> None:
    async with httpx.AsyncClient(base_url=origin, timeout=120) as http:
        opened = (await http.post("/v1/live/sessions", json={"patient": PATIENT}, headers={"Authorization": f"Bearer {token}"})).json()
    url = origin.replace("http", "ws", 1) + f"/v1/live/{opened['id']}?ticket={opened['ticket']}"
    sent_at: dict[int, float] = {}
    results: dict[int, float] = {}
    async with websockets.connect(url, max_size=2**20, open_timeout=120, close_timeout=60) as socket:

        async def receive() -> None:
            async for raw in socket:
                message = json.loads(raw)
                if message["type"] == "window":
                    results[message["index"]] = time.perf_counter()
                elif message["type"] in ("assessment", "error"):
                    return

        reader = asyncio.create_task(receive())
        await socket.send(json.dumps({"type": "hello", "image_size": [640, 480], "fps": 30}))
        await asyncio.sleep(np.random.default_rng().random())  # sessions start spread over a second, as at a ward
        start, started_wall = time.perf_counter(), time.time()
        for i, frame in enumerate(stream):
            await asyncio.sleep(max(0.0, start + i / 30 - time.perf_counter()))
            await socket.send(frame)
            if i % 30 == 0:
                sent_at[i // 30 - 1] = time.perf_counter()  # frame 30(k+1) closes window k
        phases.append((started_wall, time.time()))
        await asyncio.sleep(0.5)
        await socket.send(json.dumps({"type": "end"}))
        await asyncio.wait_for(reader, 300)
    for index, closed in sent_at.items():
        if index < 0:
            continue
        if index in results:
            latencies.append((results[index] - closed) * 1000)
        else:
            lost.append(index)


def run_clients(origin: str, token: str, n: int, seconds: float, core: int | None) -> tuple[list[float], int, tuple[float, float]]:
    """In the clients' own process, pinned to ``core``: N sessions at once; (latencies ms, windows lost, the wall-clock
    span during which every session was streaming)."""
    if core is not None:
        os.sched_setaffinity(0, {core})
    stream = [frame for _, frame in frames(seconds)]  # one recording for every session (each session is its own)

    async def go() -> tuple[list[float], int, tuple[float, float]]:
        latencies: list[float] = []
        lost: list[int] = []
        phases: list[tuple[float, float]] = []
        await asyncio.gather(*(client(origin, token, seconds, latencies, lost, stream, phases) for _ in range(n)))
        return latencies, len(lost), (max(p[0] for p in phases), min(p[1] for p in phases))

    return asyncio.run(go())


def load(origin: str, token: str, n: int, seconds: float, pid: int, core: int | None) -> dict:
    """Server CPU is sampled every 0.2 s and counted only while every session streams (not while sessions are
    created or end as assessments), per second of one session's stream."""
    before = rss_mb(pid)
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.time(), cpu_s(pid)))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        pending = pool.apply_async(run_clients, (origin, token, n, seconds, core))
        time.sleep(seconds * 0.8)
        during = rss_mb(pid)
        latencies, lost, (t0, t1) = pending.get(timeout=seconds + 600)
    done.set()
    sampler.join()
    times, cpu = np.array([t for t, _ in samples]), np.array([c for _, c in samples])
    streaming = max(t1 - t0, 1e-3)
    used = float(np.interp(t1, times, cpu) - np.interp(t0, times, cpu))
    return {"n": n, "latencies": latencies, "lost": lost, "mb_per_session": max(0.0, during - before) / n, "cpu": used / (n * streaming)}


def found_before(found: dict[int, tuple[float, float, int]], n: int, counts: list[int]) -> int:
    """The largest N before ``n`` in the sweep (0 if none): the ceiling so far if every one was within budget."""
    earlier = [c for c in counts if c < n]
    return earlier[-1] if earlier else 0


def sweep(label: str, settings: dict[str, str], seconds: float, counts: list[int]) -> dict[int, tuple[float, float, int]]:
    cores = sorted(os.sched_getaffinity(0))
    server_core, client_core = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    found: dict[int, tuple[float, float, int]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        live_gateway(Path(tmp), {"PAIN_GATEWAY_PLUGIN_LIVE_STREAM_MAX_SESSIONS_PER_TENANT": "1000", **settings}, start_s=300) as gateway,
    ):
        token = subprocess.run(
            [str(CLI), "tokens", "create", "--name", "bench", "--role", "clinician"], cwd=ROOT, env=gateway.env, capture_output=True, text=True, check=True
        ).stdout.strip()
        pid = gateway.pid
        while httpx.get(f"{gateway.origin}/ready", timeout=30).status_code != 200:
            time.sleep(0.5)
        if server_core is not None:
            for member in family(pid):
                os.sched_setaffinity(member, {server_core})
        load(gateway.origin, token, 1, 3.0, pid, client_core)  # the live model loads with the first session
        print(f"{label}: server pinned to core {server_core}, clients to core {client_core}; load average {os.getloadavg()[0]:.1f}", flush=True)
        best = 0
        for n in counts:
            result = load(gateway.origin, token, n, seconds, pid, client_core)
            latency = np.array(result["latencies"]) if result["latencies"] else np.array([np.inf])
            p50, p99 = float(np.percentile(latency, 50)), float(np.percentile(latency, 99))
            ok = p99 <= BUDGET_MS and result["lost"] == 0
            best = n if ok and best == found_before(found, n, counts) else best  # within budget, and every smaller N was
            found[n] = (p50, p99, result["lost"])
            print(
                f"  {n:3d} sessions: window end → result p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  windows {len(result['latencies'])}, "
                f"lost {result['lost']}  server memory +{result['mb_per_session']:.2f} MB/session  server CPU {result['cpu'] * 100:.2f} % of its core "
                f"per session  {'ok' if ok else 'over budget'}",
                flush=True,
            )
            if not ok and not FULL:
                break
        print(f"  ceiling ({label}): {best} concurrent 30-fps sessions on one server core with p99 <= {BUDGET_MS:g} ms", flush=True)
    return found


def main() -> None:
    args = [float(a) for a in sys.argv[1:]]
    seconds = args[0] if args else 8.0
    counts = [int(a) for a in args[1:]] or COUNTS
    print(
        f"Live scoring capacity: clients stream recorded landmarks at 30 fps for {seconds:g} s each; budget p99 <= {BUDGET_MS:g} ms "
        f"from window end to result; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start",
        flush=True,
    )
    batched = sweep("shipped (SCORE_BATCH=64)", {}, seconds, counts)
    single = sweep("baseline, before batching (SCORE_BATCH=1)", {"PAIN_GATEWAY_PLUGIN_LIVE_STREAM_SCORE_BATCH": "1"}, seconds, counts)
    for n in sorted(set(batched) & set(single)):
        print(f"  {n:3d} sessions: p99 baseline / shipped = {single[n][1] / max(batched[n][1], 1e-9):.1f}x, p50 {single[n][0] / max(batched[n][0], 1e-9):.1f}x")


if __name__ == "__main__":
    main()

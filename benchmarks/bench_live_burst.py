"""Live sessions under a burst: N clients each stream F recorded landmark frames (30 fps of capture
time) as fast as the server reads them, then ``end``, to a served gateway (``pain-gateway serve``, its
own process), for several rounds. Measured per round: how each session ended (an assessment, or why
not: ended as idle, refused, closed), the round's wall time, and the server's resident memory (server and
its children) before the first round and after each; the ratio of the last round's memory to the
first's says whether memory a session held is given back.

``python benchmarks/bench_live_burst.py [SESSIONS] [FRAMES] [ROUNDS]`` (defaults: 20 sessions,
9,000 frames each (MAX_SESSION_FRAMES), 3 rounds).
"""

from __future__ import annotations

import asyncio
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.live import burst, frames  # noqa: E402
from support.serve import CLI, live_gateway, server_rss_mb  # noqa: E402

SETTLE_S = 3.0  # after a round, before memory is read: the last assessments are stored and freed


def main() -> None:
    args = [int(a) for a in sys.argv[1:]]
    n, count, rounds = (args + [20, 9000, 3][len(args) :])[:3]
    stream = [frame for _, frame in frames(count / 30.0)]
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp, live_gateway(Path(tmp), {"PAIN_GATEWAY_PLUGIN_LIVE_STREAM_MAX_SESSIONS_PER_TENANT": "1000"}) as gateway:
        token = subprocess.run(
            [str(CLI), "tokens", "create", "--name", "bench", "--role", "clinician"], cwd=ROOT, env=gateway.env, capture_output=True, text=True, check=True
        ).stdout.strip()
        asyncio.run(burst(gateway.origin, token, 1, stream[:300]))  # warm: the model loads with the first session
        time.sleep(SETTLE_S)
        baseline = server_rss_mb(gateway.pid)
        print(
            f"Live burst: {n} sessions x {count} frames as fast as possible, {rounds} rounds; server: pain-gateway serve on {cores} cores "
            f"(clients share them); server memory after warm-up {baseline:.0f} MB",
            flush=True,
        )
        after: list[float] = []
        for r in range(rounds):
            start = time.perf_counter()
            outcomes = asyncio.run(burst(gateway.origin, token, n, stream))
            wall = time.perf_counter() - start
            time.sleep(SETTLE_S)
            after.append(server_rss_mb(gateway.pid))
            tally = collections.Counter(outcomes)
            print(f"  round {r + 1}: {wall:5.1f} s  server memory {after[-1]:6.0f} MB  ends: {dict(tally)}", flush=True)
        log = (Path(tmp) / "serve.log").read_text()
        if os.environ.get("BURST_LOG"):  # the server's log, kept for a look afterwards
            Path(os.environ["BURST_LOG"]).write_text(log)
        idle, silent = log.count("live_session_idle"), log.count("live_session_silent")
        print(
            f"  sessions ended as idle without a client (server log): {idle}, as silent while connected: {silent}; "
            f"memory after the last round / after the first: {after[-1] / after[0]:.2f}x (/ after warm-up: {after[-1] / baseline:.2f}x)"
        )


if __name__ == "__main__":
    main()

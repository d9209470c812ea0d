"""``pain-gateway serve`` stopped as a supervisor stops it (SIGTERM) shuts down cleanly: its worker and
scoring processes end with it and nothing is left for the resource tracker to complain about."""

from __future__ import annotations

import os

import httpx
from support.serve import live_gateway


def test_a_stopped_gateway_leaves_no_leaked_semaphore_and_no_process(tmp_path):
    with live_gateway(tmp_path) as gateway:
        assert httpx.get(f"{gateway.origin}/ready", timeout=30).status_code == 200
        children = [int(pid) for pid in os.popen(f"pgrep -P {gateway.pid}").read().split()]
        assert children, "serve runs its scoring and job processes"
    log = (tmp_path / "serve.log").read_text()
    assert "Application shutdown complete" in log
    assert "leaked semaphore" not in log and "Traceback" not in log, log[-2000:]
    assert not [pid for pid in children if os.path.exists(f"/proc/{pid}") and "zombie" not in open(f"/proc/{pid}/status").read().lower()]

"""``pain-gateway serve`` stopped as a supervisor stops it (SIGTERM) shuts down cleanly: its worker and
scoring processes end with it and nothing is left for the resource tracker to complain about."""

from __future__ import annotations

import os
import time

import httpx
from support.serve import live_gateway


def test_a_stopped_gateway_leaves_no_leaked_semaphore_and_no_process(tmp_path):
    with live_gateway(tmp_path, start_s=120) as gateway:
        deadline = time.monotonic() + 180  # /ready turns 200 once every scoring and job process has loaded its model
        while httpx.get(f"{gateway.origin}/ready", timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "serve never became ready"
            time.sleep(0.5)
        children = [int(pid) for pid in os.popen(f"pgrep -P {gateway.pid}").read().split()]
        assert children, "serve runs its scoring and job processes"
    log = (tmp_path / "serve.log").read_text()
    assert "Application shutdown complete" in log
    assert "leaked semaphore" not in log and "Traceback" not in log, log[-2000:]
    deadline = time.monotonic() + 10  # a child reaped by init a moment after its parent's exit is not left behind
    while alive := [pid for pid in children if running(pid)]:
        assert time.monotonic() < deadline, f"processes left running after serve stopped: {alive}"
        time.sleep(0.2)


def running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return "zombie" not in status.read().lower()
    except FileNotFoundError:
        return False

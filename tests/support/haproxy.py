"""Debian's HAProxy on loopback with the repository's ``deploy/haproxy.cfg`` (the file compose.yaml mounts),
unprivileged, in the foreground, its log in the test's directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from support.ci import service_missing
from support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "haproxy.cfg"


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if os.path.exists(p)), None)
    if found is None:
        service_missing("HAProxy is not installed (apt-get install haproxy)", "CI must run the proxy tests (.ci/run installs haproxy)")
    assert found is not None
    return found


@contextmanager
def haproxy(upstreams: list[str], workdir: Path, *, port: int | None = None, ready: bool = True, start_s: float = 120) -> Iterator[str]:
    """The proxy in front of two ``host:port`` replicas; yields its origin once it answers (and, with
    ``ready``, once its health checks have found a replica whose ``/ready`` is 200), on ``port`` or a free one."""
    port = port or free_port()
    env = {
        **os.environ,
        "PAIN_GATEWAY_PROXY_BIND": f"127.0.0.1:{port}",
        "PAIN_GATEWAY_UPSTREAM_A": upstreams[0],
        "PAIN_GATEWAY_UPSTREAM_B": upstreams[1],
    }
    env.pop("PAIN_GATEWAY_UPSTREAM_DNS", None)
    origin = f"http://127.0.0.1:{port}"
    with (workdir / "haproxy.log").open("w") as log:
        process = subprocess.Popen([haproxy_binary(), "-db", "-f", str(CONFIG)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        try:
            deadline = time.monotonic() + start_s
            while True:
                assert process.poll() is None, (workdir / "haproxy.log").read_text()
                try:
                    status = httpx.get(f"{origin}/ready", timeout=5).status_code
                    if status == 200 or (not ready and status):
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (workdir / "haproxy.log").read_text()
                time.sleep(0.3)
            yield origin
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

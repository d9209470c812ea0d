"""A real ``pain-gateway serve`` subprocess on a free port with its own SQLite database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "pain-gateway"


@dataclass(frozen=True)
class LiveGateway:
    port: int
    env: dict[str, str]  # the environment it runs with, for CLI commands against the same database
    pid: int = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def live_gateway(workdir: Path, settings: dict[str, str] | None = None) -> Iterator[LiveGateway]:
    """Started from the repository root (as the README's commands run) and stopped afterwards;
    ``settings`` adds ``PAIN_GATEWAY_*`` variables."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")},
        "PAIN_GATEWAY_PORT": str(port),
        "PAIN_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/gateway.db",
        "PAIN_GATEWAY_DATA_DIR": str(workdir / "data"),
        "PYTHONPATH": str(ROOT),
        **(settings or {}),
    }
    log_path = workdir / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([str(CLI), "serve"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        gateway = LiveGateway(port, env, server.pid)
        try:
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{gateway.origin}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            yield gateway
        finally:
            server.terminate()
            server.wait(timeout=10)

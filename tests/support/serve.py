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


def server_rss_mb(pid: int) -> float:
    """Resident memory of a served gateway and its children (the embedded scoring pool), in MB."""
    listed = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True).stdout.split()
    return sum(int(kb) for kb in listed) / 1024


@contextmanager
def live_gateway(workdir: Path, settings: dict[str, str] | None = None, start_s: float = 30) -> Iterator[LiveGateway]:
    """Started from the repository root (as the README's commands run) and stopped afterwards;
    ``settings`` adds ``PAIN_GATEWAY_*`` variables; ``start_s`` bounds the wait for its /health."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")},
        "PAIN_GATEWAY_PORT": str(port),
        "PAIN_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/gateway.db",
        "PAIN_GATEWAY_DATA_DIR": str(workdir / "data"),
        "PYTHONPATH": str(ROOT),
        **(settings or {}),
    }
    with serving([str(CLI), "serve"], env, ROOT, f"http://127.0.0.1:{port}", workdir / "serve.log", start_s=start_s) as server:
        yield LiveGateway(port, env, server.pid)


@contextmanager
def serving(
    command: list[str], env: dict[str, str], cwd: Path, origin: str, log_path: Path, start_s: float = 30, stop_s: float = 10
) -> Iterator[subprocess.Popen]:
    """``command`` (a ``pain-gateway serve``) started in ``cwd``, its stderr in ``log_path``, once
    ``origin``/health answers 200 within ``start_s``; SIGTERM afterwards, and a server that ignores it
    for ``stop_s`` is killed and fails the test. The stopped process stays readable (``returncode``)."""
    with log_path.open("w") as log:
        server = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + start_s
            while True:
                assert server.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{origin}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            yield server
        finally:
            server.terminate()
            try:
                server.wait(timeout=stop_s)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
                raise AssertionError(f"{' '.join(command)} ignored SIGTERM\n{log_path.read_text()}") from None

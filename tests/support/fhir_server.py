"""A real FHIR R4 server (sekmet-fhir, SQLite) on loopback, startable and stoppable by tests.

The server lives in its own venv under var/fhir-server so its pins never touch the gateway's.
Without it the tests skip with the reason, except under any truthy CI where a missing server is a
failure: CI must prove the EMR path, not skip it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx

from support.ci import service_missing
from support.ports import free_port

__all__ = ["FHIR_JSON", "FhirServer", "unavailable"]

EXECUTABLE = Path(__file__).parents[2] / "var" / "fhir-server" / "bin" / "sekmet"
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def unavailable(reason: str) -> None:
    service_missing(f"FHIR test server unavailable: {reason}", "CI must prove the EMR path (.ci/run installs sekmet-fhir)")


class FhirServer:
    """One sekmet instance with a fixed port and data directory, so it can be stopped and started
    again with its data (an EMR going down for a while and coming back)."""

    def __init__(self, workdir: Path) -> None:
        executable = EXECUTABLE if EXECUTABLE.exists() else shutil.which("sekmet")
        if not executable:
            unavailable(f"{EXECUTABLE} not installed (python3.11 -m venv var/fhir-server && var/fhir-server/bin/pip install sekmet-fhir==0.1.1)")
        self.executable = str(executable)
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        (workdir / "settings.yaml").write_text(
            f"base_url: {self.base}\nhost: 127.0.0.1\nport: {self.port}\ndata_dir: {workdir / 'data'}\n"
            f"own_private_key_path: {workdir / 'keys' / 'server.pem'}\n"
            "simulator: {enabled: false}\nvalidation: {inbound: strict}\nlog_inbound: false\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = (self.workdir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            [self.executable, "serve", "--config", str(self.workdir / "settings.yaml")], cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                unavailable(f"server exited with {self.proc.returncode}: {(self.workdir / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/metadata", headers=FHIR_JSON, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                unavailable(f"no answer on {self.base}/metadata within 60 s")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=FHIR_JSON, timeout=30)

    def observations(self, **params: str) -> list[dict]:
        with self.client() as client:
            response = client.get("Observation", params=params)
        assert response.status_code == 200, response.text
        return [e["resource"] for e in response.json().get("entry", [])]

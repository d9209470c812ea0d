"""The SMART and CDS Hooks reference implementations, built once per machine and run on loopback.

``smart-on-fhir/smart-launcher-v2`` and ``cds-hooks/sandbox`` are on no package registry: a checkout of
each at a pinned commit is found through ``PAINGW_TEST_SMART_LAUNCHER_DIR`` and
``PAINGW_TEST_CDS_SANDBOX_DIR`` (``.ci/run`` points them at ``../shared/vendor/...``). The first use
copies the checkout to ``~/.cache/pain-gateway-tests/<name>-<commit>/``, runs ``npm ci`` (and the
sandbox's ``npm run build``) there, and marks it ready; later runs, and parallel workers waiting on the
lock, reuse it. Without the variable a test skips with the reason, except under CI where it fails.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import json
import os
import shutil
import subprocess
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from support.ci import service_missing
from support.ports import free_port

CACHE = Path(os.environ.get("PAINGW_TEST_CACHE", Path.home() / ".cache" / "pain-gateway-tests"))
READY = ".pain-gateway-ready"
LAUNCHER_ENV, SANDBOX_ENV = "PAINGW_TEST_SMART_LAUNCHER_DIR", "PAINGW_TEST_CDS_SANDBOX_DIR"
CI_HINT = "CI must run the SMART launcher and CDS Hooks sandbox: .ci/run sets {} to ../shared/vendor/{} (see README, 'Embed in your EMR')"


def _commit(source: Path) -> str:
    """The checkout's commit: ``<dir>.commit`` beside it (the vendored snapshots), else its git HEAD."""
    beside = source.parent / f"{source.name}.commit"
    if beside.exists():
        return beside.read_text().strip()[:40]
    found = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True)
    if found.returncode != 0:
        service_missing(f"{source} has no {beside.name} and is not a git checkout", "give the harness checkouts their pinned commit")
    return found.stdout.strip()


def built(variable: str, name: str, build: list[list[str]], timeout_s: float = 900) -> Path:
    """The ready, cached build of the checkout ``variable`` names (building it under a lock if needed)."""
    configured = os.environ.get(variable, "")
    if not configured:
        service_missing(f"{variable} is not set (a checkout of {name}; it is on no package registry)", CI_HINT.format(variable, name))
    source = Path(configured).resolve()
    if not (source / "package.json").exists():
        service_missing(f"{variable}={configured} holds no package.json", CI_HINT.format(variable, name))
    if shutil.which("npm") is None:
        service_missing("npm is not installed (Node.js >= 18 builds the harnesses)", "install nodejs and npm")
    target = CACHE / f"{name}-{_commit(source)}"
    if (target / READY).exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be building it: wait, then reuse
        if (target / READY).exists():
            return target
        work = CACHE / f"{target.name}.building-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(source, work, ignore=shutil.ignore_patterns("node_modules", "build", ".git"))
        subprocess.run(["chmod", "-R", "u+w", str(work)], check=True)  # vendored snapshots may be read-only
        for step in build:
            done = subprocess.run(["nice", "-n", "10", *step], cwd=work, capture_output=True, text=True, timeout=timeout_s)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(step)} failed in {work}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        (work / READY).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
    return target


NPM_CI = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]


@functools.cache
def launcher_dir() -> Path:
    return built(LAUNCHER_ENV, "smart-launcher-v2", [NPM_CI])


@functools.cache
def sandbox_dir() -> Path:
    return built(SANDBOX_ENV, "cds-hooks-sandbox", [NPM_CI, ["npm", "run", "build"]])


def launch_code(
    patient: str, provider: str, *, encounter: str = "NONE", client_id: str = "", pkce: int = 2, sim_ehr: bool = False, jwks: str = "", client_type: int = 0
) -> str:
    """The launcher's ``launch`` parameter: base64url of its options array (``src/isomorphic/codec.ts``):
    a provider EHR launch, login and authorization screens skipped, PKCE required (2 = always); with
    ``sim_ehr`` the app runs inside the launcher's simulated EHR frame (``need_patient_banner: false``); with
    ``client_type`` 2 (confidential-asymmetric) and ``jwks`` (a JWKS JSON string) the token request must carry
    a ``private_key_jwt`` assertion signed by one of those keys."""
    options: list[Any] = [0, patient, provider, encounter, 1, 1, int(sim_ehr), "", "", client_id, "", "", "", jwks, client_type, pkce, ""]
    return base64.urlsafe_b64encode(json.dumps(options).encode()).rstrip(b"=").decode()


class SmartLauncher:
    """The SMART reference launcher's backend (a SMART authorization server and FHIR proxy) on loopback,
    in front of ``fhir_base``: its FHIR base (the EHR's ``iss``) is ``.iss``."""

    def __init__(self, fhir_base: str, workdir: Path) -> None:
        self.dir, self.port = launcher_dir(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.iss = f"{self.base}/v/r4/fhir"
        self.log = workdir / "smart-launcher.log"
        env = {
            **os.environ,
            "NODE_ENV": "production",
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "FHIR_SERVER_R4": fhir_base,
            "FHIR_SERVER_R3": "",
            "FHIR_SERVER_R2": "",
            "SECRET": os.urandom(16).hex(),
        }
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(self.dir / "node_modules" / ".bin" / "ts-node"), "--skipProject", "--transpile-only", "backend/index.ts"],
                cwd=self.dir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.iss}/.well-known/smart-configuration", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the SMART launcher did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class StaticSite:
    """A folder (the sandbox's webpack build) served on loopback."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

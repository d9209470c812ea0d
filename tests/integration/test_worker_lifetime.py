"""A SIGKILLed ``pain-gateway serve`` leaves no worker behind: the real console script, a real video
job so a spawned worker exists, then SIGKILL and every child of the gateway must be gone in seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import create_tokens
from support.ports import free_port
from support.videos import face_video

from gateway.storage.migrate import upgrade

CLI = Path(sys.executable).parent / "pain-gateway"
METADATA = json.dumps({"patient": {"identifier": {"system": "urn:example:mrn", "value": "TH-9"}}, "captured_at": "2026-11-23T09:30:00Z"})

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process trees from /proc (Linux)")


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process, None once it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else (fields[0], int(fields[1]))


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None and stat[1] == pid:
            found.append(int(entry.name))
    return found


def _is_pool_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


def test_workers_die_with_a_sigkilled_serve(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    upgrade(url)
    token = create_tokens(url)["telehealth"]
    video = face_video(tmp_path / "face.mp4", seconds=3.0, size=(320, 240))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")},
        "PAIN_GATEWAY_DATABASE_URL": url,
        "PAIN_GATEWAY_PORT": str(port),
        "PAIN_GATEWAY_DATA_DIR": str(tmp_path / "data"),
        "PAIN_GATEWAY_LOG_FORMAT": "json",
        "PAIN_GATEWAY_WORKERS": "2",
    }
    serve = subprocess.Popen([str(CLI), "serve"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    children: list[int] = []
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        files = {"video": (video.name, video.read_bytes(), "video/mp4")}
        response = httpx.post(f"{base}/v1/assessments", files=files, data={"metadata": METADATA}, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(_is_pool_worker(pid) for pid in _children(serve.pid)):
            time.sleep(0.1)
        children = _children(serve.pid)
        assert any(_is_pool_worker(pid) for pid in children), "the job never started a worker process"

        serve.send_signal(signal.SIGKILL)
        serve.wait(10)
        deadline = time.monotonic() + 60  # a worker still importing torch arms its death signal when it gets there, finds its parent gone and exits
        while time.monotonic() < deadline and any(_stat(pid) for pid in children):
            time.sleep(0.1)
        survivors = [pid for pid in children if _stat(pid)]
        assert survivors == [], f"children of the killed gateway still running: {survivors} of {children}"
    finally:
        for pid in [serve.pid, *children]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        serve.wait(10)

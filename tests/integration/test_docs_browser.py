"""``/docs`` in a real browser: Debian's headless Chromium opens it on a live ``pain-gateway serve``, the
operations render, and not one request leaves the gateway (no CDN, no validator badge, no fonts).

Playwright drives the system Chromium (``/usr/bin/chromium``); ``playwright install`` is never needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from support.ci import service_missing

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "pain-gateway"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_gateway(tmp_path):
    """A real ``pain-gateway serve`` on a free port with its own SQLite database; yields its origin."""
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")},
           "PAIN_GATEWAY_PORT": str(port), "PAIN_GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/docs.db",
           "PAIN_GATEWAY_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen([str(CLI), "serve"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{origin}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield origin
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def test_docs_render_in_chromium_from_the_gateway_alone(live_gateway, tmp_path):
    if not CHROMIUM.exists():
        service_missing(f"{CHROMIUM} is missing (Debian package 'chromium')", ".ci/run installs it: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")
    requested: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{live_gateway}/docs")
            page.wait_for_selector(".opblock-summary-path", timeout=30_000)
            paths = set(page.locator(".opblock-summary-path").all_inner_texts())
            assert page.locator(".btn.authorize").count() == 1  # where a person pastes the bearer token
            screenshot = tmp_path / "docs.png"
            page.screenshot(path=str(screenshot), full_page=False)
        finally:
            browser.close()
    assert {"/v1/assessments", "/health"} <= {path.replace("\u200b", "") for path in paths}, sorted(paths)
    origins = {f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" for url in requested if not url.startswith(("data:", "blob:"))}
    assert origins == {live_gateway}, f"requests left the gateway: {sorted(u for u in requested if not u.startswith(live_gateway))}"
    assert f"{live_gateway}/schema/openapi.json" in requested
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000, len(png)

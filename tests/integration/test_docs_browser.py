"""``/docs`` in a real browser: Debian's headless Chromium opens it on a live ``pain-gateway serve``, the
operations render, and not one request leaves the gateway (no CDN, no validator badge, no fonts).

Playwright drives the system Chromium (``/usr/bin/chromium``); ``playwright install`` is never needed.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from support.ci import service_missing
from support.serve import live_gateway as running

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]


@pytest.fixture
def live_gateway(tmp_path):
    """A real ``pain-gateway serve``; yields its origin."""
    with running(tmp_path) as gateway:
        yield gateway.origin


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

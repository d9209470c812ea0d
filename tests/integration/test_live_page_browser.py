"""The live page in a real browser: Debian's headless Chromium films a generated face video through its fake
camera, Face Mesh runs in the page on the vendored files, and a live ``pain-gateway serve`` answers each
second of capture; Stop turns the session into one stored assessment, delivered to a webhook like any upload.

Midway the connection is cut: the page reconnects to the same session with a new ticket.
Every WebSocket message the page sends is recorded: each must be a landmark frame (16 or 5,632 bytes,
version 1) or a JSON control message, so no image can leave the page unnoticed.
"""

from __future__ import annotations

import json
import re
import struct
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from support.ci import service_missing
from support.gateway import tokens_for
from support.receiver import Receiver
from support.serve import live_gateway as running
from support.videos import face_frames, write_y4m

from gateway.web.ui import face_mesh_assets

CHROMIUM = Path("/usr/bin/chromium")
CONTROL_TYPES = {"hello", "end"}
SECONDS_STREAMED = 4
SLOW_DEVICE = {"PAIN_GATEWAY_PLUGIN_LIVE_STREAM_MIN_WINDOW_FRAMES": "2", "PAIN_GATEWAY_MAX_GAP_FRAMES": "30"}
"""Face Mesh on software WebGL with 2 shared cores runs at 1-6 fps: what an operator sets for devices that slow
(with the defaults, 15 frames a second, every second here is reported unscorable, as the page then shows). The
shipped 15 is pinned without a browser: tests/unit/test_live_api.py, test_a_second_at_the_shipped_15_frames_is_scored_and_at_14_is_not."""


def chromium_args(camera: Path) -> list[str]:
    """The flags measured in shared/research/live.md: a fake camera playing ``camera``, no network chatter."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-gpu",
    ]


def check_message(payload: bytes | str) -> str:
    """What a sent WebSocket message is ("face", "no-face", or its control type); fails on anything else."""
    if isinstance(payload, str):
        message = json.loads(payload)
        assert message["type"] in CONTROL_TYPES, message
        return message["type"]
    assert len(payload) in (16, 5632), f"a {len(payload)}-byte binary message is not a landmark frame"
    version, flags, zero = struct.unpack_from("<BBH", payload)
    assert (version, zero) == (1, 0), payload[:16]
    assert bool(flags & 1) == (len(payload) == 5632), (flags, len(payload))
    return "face" if flags & 1 else "no-face"


@pytest.fixture
def served(tmp_path):
    """A live gateway allowed to post webhooks to a real local receiver; its tokens; the receiver."""
    receiver = Receiver().start()
    try:
        with running(tmp_path, SLOW_DEVICE | {"PAIN_GATEWAY_WEBHOOK_ALLOWLIST": "127.0.0.1"}, start_s=120) as gateway:  # a bound on the wait

            def token(role: str) -> str:
                """Made in the served gateway's database in process (a CLI start costs seconds on a busy machine)."""
                return tokens_for(gateway.env["PAIN_GATEWAY_DATABASE_URL"], "default")[role]["Authorization"].split(" ", 1)[1]

            yield gateway, token, receiver
    finally:
        receiver.stop()


def test_the_live_page_scores_each_second_and_stores_the_session(served, tmp_path):
    if not CHROMIUM.exists():
        service_missing(f"{CHROMIUM} is missing (Debian package 'chromium')", ".ci/run installs it: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")
    face_mesh_assets.ensure()  # what `make test` did already: the pinned npm files, sha512-checked
    gateway, token, receiver = served
    clinician, telehealth = token("clinician"), token("telehealth")
    hook = httpx.post(
        f"{gateway.origin}/v1/webhook-endpoints",
        headers={"Authorization": f"Bearer {telehealth}"},
        json={"url": receiver.url(), "events": ["assessment.completed"]},
        timeout=30,
    )
    assert hook.status_code == 201, hook.text
    camera = write_y4m(tmp_path / "face.y4m", face_frames(60, 30, (640, 360)), 30)  # 2 s that loop seamlessly

    sent: list[bytes | str] = []
    received: list[dict] = []
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), args=chromium_args(camera), viewport={"width": 1180, "height": 820}
        )  # a landscape tablet
        try:
            page = context.new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))

            def watch(socket):
                socket.on("framesent", lambda payload: sent.append(payload))
                socket.on("framereceived", lambda payload: received.append(json.loads(payload)))

            page.on("websocket", watch)
            relays = []  # each page <-> gateway connection, passed through so the test can cut one

            def relay(socket):
                relays.append((socket, socket.connect_to_server()))

            page.route_web_socket(re.compile(r".*/v1/live/.*"), relay)
            page.goto(f"{gateway.origin}/ui/live")  # not signed in: the sign-in page, coming back here
            page.fill("#token", clinician)
            page.click("form[action='/ui/sign-in'] button[type=submit]")
            page.wait_for_url(f"{gateway.origin}/ui/live")
            page.fill("#system", "urn:oid:1.2.36.146.595.217.0.1")
            page.fill("#value", "MRN-LIVE-1")
            page.click("#start")
            page.wait_for_function("Number(document.getElementById('result').dataset.windows || 0) >= 1", timeout=90_000)
            started = time.monotonic()
            page.wait_for_function(f"Number(document.getElementById('result').dataset.windows) >= {SECONDS_STREAMED + 1}", timeout=30_000)
            streamed_s = time.monotonic() - started
            page_side, gateway_side = relays[0]
            gateway_side.close()
            page_side.close(code=4000, reason="network lost")  # like a dropped Wi-Fi: the page reconnects to the same session
            page.wait_for_function("document.getElementById('status').textContent.startsWith('Streaming')", timeout=30_000)
            resumed_at = len(received)
            page.wait_for_function(f"Number(document.getElementById('result').dataset.windows) >= {SECONDS_STREAMED + 3}", timeout=30_000)
            browser_fps = float(page.inner_text("#browser-fps"))
            page.screenshot(path=str(tmp_path / "live-streaming.png"))
            page.click("#stop")
            page.wait_for_selector("#assessment-link", timeout=60_000)
            page.screenshot(path=str(tmp_path / "live-stored.png"), full_page=True)
            link = page.get_attribute("#assessment-link", "href")
        finally:
            context.close()

    kinds = [check_message(payload) for payload in sent]
    assert kinds[0] == "hello" and kinds[-1] == "end" and kinds.count("end") == 1, kinds[:3] + kinds[-3:]
    faces = kinds.count("face")
    assert faces >= SECONDS_STREAMED, f"{faces} face frames in {streamed_s:.1f} s"
    for payload in (p for p in sent if isinstance(p, bytes) and len(p) == 5632):
        xyz = np.frombuffer(payload, "<f4", offset=16).reshape(468, 3)
        assert np.isfinite(xyz).all() and ((xyz[:, :2] > -0.5) & (xyz[:, :2] < 1.5)).all(), "normalised Face Mesh landmarks"
    sequences = [struct.unpack_from("<I", p, 4)[0] for p in sent if isinstance(p, bytes)]
    assert sequences == sorted(set(sequences)), "frame sequence numbers rise without repeats"

    windows = [m for m in received if m["type"] == "window"]
    assert len(windows) >= SECONDS_STREAMED + 1
    for window in windows:
        assert window["frames"] >= 0 and window["fps"] >= 0 and "scorable" in window, window
        if window["scorable"]:
            assert abs(sum(window["probabilities"].values()) - 1) < 1e-3 and window["level"] in window["probabilities"], window
        else:
            assert window.get("reason"), window  # the page shows why (too few frames at this machine's fps)
    assert any(window["scorable"] for window in windows), windows
    assert len(relays) == 2 and relays[1][0].url.split("?")[0] == relays[0][0].url.split("?")[0], "reconnected to the same session"
    assert sum(m["type"] == "window" for m in received[resumed_at:]) >= 1, "windows keep coming after the reconnect"
    assessment_id = next(m["id"] for m in received if m["type"] == "assessment")
    assert link.endswith(assessment_id)

    stored = httpx.get(f"{gateway.origin}/v1/assessments/{assessment_id}", headers={"Authorization": f"Bearer {clinician}"}, timeout=30)
    assert stored.status_code == 200, stored.text
    [delivered] = receiver.wait(1, timeout_s=30)
    assert assessment_id in delivered.body.decode()
    assert all(url.startswith(gateway.origin) or url.startswith(("data:", "blob:")) for url in requested), "no CDN, no outside request"
    for shot in ("live-streaming.png", "live-stored.png"):
        assert (tmp_path / shot).read_bytes().startswith(b"\x89PNG")
    print(f"browser Face Mesh {browser_fps:.1f} fps; {faces} face frames sent, {len(windows)} windows, {kinds.count('no-face')} without a face")

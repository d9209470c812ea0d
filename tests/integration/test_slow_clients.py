"""Slow and silent clients against a real ``pain-gateway serve`` (issue 20: 2,000 connections with unfinished
headers held 2,000 file descriptors for as long as the prober liked): a connection that sends nothing, half
its headers or half its declared body is closed once PAIN_GATEWAY_HEADER_TIMEOUT_S /
PAIN_GATEWAY_BODY_TIMEOUT_S pass, an idle keep-alive one after PAIN_GATEWAY_IDLE_TIMEOUT_S; a normal request,
a slow but steady upload and a WebSocket that stays quiet after its handshake are not cut."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import httpx
import pytest
import websockets
from support.gateway import tokens_for
from support.serve import live_gateway

from gateway.ops.settings import SettingsError, load_settings

TIMEOUT_S = 1.0  # header, body and idle timeouts of the gateway under test
SLACK_S = 3.0  # a busy machine's scheduling; "never closed" (before) is far beyond it
SHORT = {
    "PAIN_GATEWAY_SCORING_PROCESSES": "0",
    "PAIN_GATEWAY_HEADER_TIMEOUT_S": str(TIMEOUT_S),
    "PAIN_GATEWAY_BODY_TIMEOUT_S": str(TIMEOUT_S),
    "PAIN_GATEWAY_IDLE_TIMEOUT_S": str(TIMEOUT_S),
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    with live_gateway(tmp_path_factory.mktemp("slow-clients"), SHORT) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def headers(gateway):
    return tokens_for(gateway.env["PAIN_GATEWAY_DATABASE_URL"], "default")


def connect(gateway) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gateway.port), timeout=10)


def until_closed(sock: socket.socket, within_s: float) -> tuple[float | None, bytes]:
    """Seconds until the server closed ``sock`` (None: still open after ``within_s``) and what it sent."""
    started, received = time.monotonic(), b""
    sock.settimeout(within_s)
    try:
        while chunk := sock.recv(65536):
            received += chunk
            sock.settimeout(max(0.01, within_s - (time.monotonic() - started)))
    except TimeoutError:
        return None, received
    except ConnectionResetError:
        pass
    return time.monotonic() - started, received


def response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) read from ``sock``."""
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or pytest.fail(f"closed mid-response: {data!r}")
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536) or pytest.fail(f"closed mid-response: {data!r}")
    return head + b"\r\n\r\n" + body


def json_head(headers: dict[str, str], length: int) -> bytes:
    return (
        f"POST /v1/assessments HTTP/1.1\r\nHost: gateway\r\nAuthorization: {headers['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_connection_that_sends_nothing_is_closed(gateway):
    with connect(gateway) as sock:
        closed_after, received = until_closed(sock, TIMEOUT_S + SLACK_S)
    assert closed_after is not None, "a silent connection is never closed"
    assert received == b"", "nothing was asked, nothing is answered"


def test_half_the_headers_then_silence_is_a_408_and_closed(gateway):
    with connect(gateway) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: gate")
        closed_after, received = until_closed(sock, TIMEOUT_S + SLACK_S)
    assert closed_after is not None, "a connection with unfinished headers is never closed"
    assert received.startswith(b"HTTP/1.1 408 "), received


def test_trickled_headers_do_not_extend_the_deadline(gateway):
    """Slowloris: a byte of a header every half timeout keeps no per-byte timer alive for long."""
    head = b"GET /health HTTP/1.1\r\nHost: gateway\r\nX-Padding: " + b"a" * 40
    with connect(gateway) as sock:
        started = time.monotonic()
        try:
            for byte in head:
                sock.sendall(bytes([byte]))
                time.sleep(TIMEOUT_S / 2)
                if time.monotonic() - started > TIMEOUT_S + SLACK_S:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed_after, received = until_closed(sock, 0.5)
        elapsed = time.monotonic() - started
    assert closed_after is not None, f"still open after trickling headers for {elapsed:.1f} s"
    assert elapsed < TIMEOUT_S + SLACK_S


def test_a_stalled_body_is_a_408_and_closed(gateway, headers):
    body = json.dumps({"padding": "x" * 1000}).encode()
    with connect(gateway) as sock:
        sock.sendall(json_head(headers["integrator"], len(body)) + body[: len(body) // 2])
        closed_after, received = until_closed(sock, TIMEOUT_S + SLACK_S)
    assert closed_after is not None, "a connection with half its declared body is never closed"
    assert received.startswith(b"HTTP/1.1 408 "), received


def test_a_normal_request_and_a_slow_steady_upload_succeed(gateway, headers, keypoints_json):
    assert httpx.get(f"{gateway.origin}/health", timeout=10).status_code == 200
    body = json.dumps(keypoints_json()).encode()
    pieces = 6  # over 2.5 timeouts in all, never a timeout's silence
    with connect(gateway) as sock:
        sock.sendall(json_head(headers["integrator"], len(body)))
        step = -(-len(body) // pieces)
        for start in range(0, len(body), step):
            time.sleep(TIMEOUT_S / 2)
            sock.sendall(body[start : start + step])
        answer = response(sock)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]


def test_keep_alive_serves_the_next_request_then_idle_is_closed(gateway):
    request = b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n"
    with connect(gateway) as sock:
        for _ in range(2):
            sock.sendall(request)
            assert response(sock).startswith(b"HTTP/1.1 200 ")
        closed_after, received = until_closed(sock, TIMEOUT_S + SLACK_S)
    assert closed_after is not None and received == b"", "an idle keep-alive connection is never closed"


def test_a_next_request_on_a_kept_alive_connection_has_the_header_deadline(gateway):
    with connect(gateway) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: gateway\r\n\r\n")
        assert response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /health HTTP/1.1\r\nHo")
        closed_after, received = until_closed(sock, TIMEOUT_S + SLACK_S)
    assert closed_after is not None
    assert received.startswith(b"HTTP/1.1 408 "), received


def test_a_quiet_websocket_outlives_every_http_timeout(gateway, headers):
    opened = httpx.post(f"{gateway.origin}/v1/live/sessions", json={"patient": {"reference": "Patient/p1"}}, headers=headers["telehealth"], timeout=30)
    assert opened.status_code == 201, opened.text

    async def stream() -> list[str]:
        async with websockets.connect(opened.json()["url"]) as ws:
            await asyncio.sleep(TIMEOUT_S * 3)  # past the header, body and idle timeouts
            await ws.send(json.dumps({"type": "hello"}))
            await ws.send(json.dumps({"type": "end"}))
            return [message async for message in ws]  # ConnectionClosedError if the server dropped it

    messages = asyncio.run(stream())
    assert messages, "the session answered after its quiet spell"


@pytest.mark.parametrize(("name", "value"), [("HEADER_TIMEOUT_S", "0"), ("BODY_TIMEOUT_S", "0.5"), ("IDLE_TIMEOUT_S", "-1"), ("HEADER_TIMEOUT_S", "soon")])
def test_timeouts_out_of_range_stop_the_gateway_naming_the_setting(name, value):
    with pytest.raises(SettingsError, match=name if value != "soon" else "header_timeout_s"):
        load_settings({f"PAIN_GATEWAY_{name}": value})


def test_timeout_defaults():
    settings = load_settings({})
    assert (settings.header_timeout_s, settings.body_timeout_s, settings.idle_timeout_s) == (10.0, 30.0, 5.0)

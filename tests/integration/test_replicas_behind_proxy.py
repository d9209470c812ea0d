"""Two ``pain-gateway serve`` replicas sharing PostgreSQL and a data directory, behind HAProxy on loopback
with the repository's ``deploy/haproxy.cfg`` (the file compose.yaml runs). A live client streams through
the proxy; the replica holding its session is SIGKILLed mid-session; the client reconnects through the
proxy (so to the other replica) and finishes. The assessment holds every second scored before the kill
and after the reconnect, once, and every link names the proxy's address, never a replica's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import websockets
from support.gateway import tokens_for
from support.haproxy import haproxy
from support.live import PATIENT, frames
from support.ports import free_port
from support.serve import CLI, ROOT, serving

BEFORE_S, AFTER_S = 3.5, 4.0  # capture seconds streamed to the first replica, then to the second


def replica_env(database_url: str, workdir: Path, port: int, public_url: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PAIN_GATEWAY_")},
        "PAIN_GATEWAY_DATABASE_URL": database_url,
        "PAIN_GATEWAY_DATA_DIR": str(workdir / "data"),  # shared, as compose's data volume
        "PAIN_GATEWAY_PORT": str(port),
        "PAIN_GATEWAY_PUBLIC_URL": public_url,
        "PAIN_GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
        "PAIN_GATEWAY_METRICS_ALLOWLIST": "10.9.9.9",
        "PAIN_GATEWAY_SCORING_PROCESSES": "1",
        "PYTHONPATH": str(ROOT),
    }


def serving_replica(database_url: str) -> str | None:
    """The replica serving the session now, as the store records it (``host:pid:nonce``)."""
    with psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql")) as conn:
        row = conn.execute("SELECT replica FROM live_sessions").fetchone()
    return row[0] if row else None


def links(value, found: list[str]) -> list[str]:
    """Every string in a JSON document that holds an address on this machine."""
    if isinstance(value, dict):
        for item in value.values():
            links(item, found)
    elif isinstance(value, list):
        for item in value:
            links(item, found)
    elif isinstance(value, str) and "127.0.0.1" in value:
        found.append(value)
    return found


async def stream(url: str, sent: list[tuple[float, bytes]], *, end: bool, received: list[dict], kill=None) -> None:
    """Send ``sent`` through ``url``, collect the messages; without ``end``, wait for the windows the frames closed,
    then ``kill`` the replica and read until the connection drops."""
    for attempt in range(60):  # the proxy's 503 (no replica ready just now) never reached a replica: the ticket is unused
        try:
            socket = await websockets.connect(url, max_size=2**20, open_timeout=60)
            break
        except websockets.InvalidStatus as exc:
            assert exc.response.status_code == 503 and attempt < 59, exc
            await asyncio.sleep(2.0)
    async with socket:
        await socket.send(json.dumps({"type": "hello", "image_size": [640, 480], "fps": 30}))
        for _, frame in sent:
            await socket.send(frame)
        if end:
            await socket.send(json.dumps({"type": "end"}))
        try:
            async for raw in socket:
                message = json.loads(raw)
                received.append(message)
                if message["type"] == "assessment" or (message["type"] == "error" and message.get("fatal")):
                    return
                if not end and message["type"] == "window" and message["index"] == int(BEFORE_S) - 1:
                    kill()  # every second the first replica closed has been answered: now it dies
        except websockets.ConnectionClosed:
            pass


def test_a_live_session_survives_the_replica_that_served_it(postgres_url, tmp_path):
    ports, proxy_port = [free_port(), free_port()], free_port()
    origin = f"http://127.0.0.1:{proxy_port}"  # known before the replicas start: their PAIN_GATEWAY_PUBLIC_URL
    envs = [replica_env(postgres_url, tmp_path, port, origin) for port in ports]
    headers = tokens_for(postgres_url, "default")["clinician"]
    with (
        serving([str(CLI), "serve"], envs[0], ROOT, f"http://127.0.0.1:{ports[0]}", tmp_path / "serve-a.log", start_s=300) as a,
        serving([str(CLI), "serve"], envs[1], ROOT, f"http://127.0.0.1:{ports[1]}", tmp_path / "serve-b.log", start_s=300) as b,
        haproxy([f"127.0.0.1:{port}" for port in ports], tmp_path, port=proxy_port),
    ):
        pids = {a.pid: a, b.pid: b}
        created = httpx.post(f"{origin}/v1/live/sessions", json={"patient": PATIENT}, headers=headers, timeout=120)
        assert created.status_code == 201, created.text
        opened = created.json()
        assert opened["url"].startswith(f"ws://127.0.0.1:{proxy_port}/v1/live/{opened['id']}?ticket=")

        sent = list(frames(BEFORE_S + AFTER_S))
        cut = int(BEFORE_S * 30)
        before: list[dict] = []
        killed: list[int] = []

        def kill() -> None:
            replica = serving_replica(postgres_url)
            assert replica is not None
            pid = int(replica.split(":")[1])
            assert pid in pids, (replica, list(pids))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

        asyncio.run(stream(opened["url"], sent[:cut], end=False, received=before, kill=kill))
        assert killed, before
        pids[killed[0]].wait(timeout=30)
        survivor = next(pid for pid in pids if pid not in killed)

        # the dead replica refuses the connection and the proxy asks the other; while the proxy's health checks
        # find no replica ready (a loaded machine: the survivor's /ready slower than the check allows) it answers
        # 503 at once, and a client retries with backoff, as the edge client and the live page do
        deadline = time.monotonic() + 180
        while (ticket := httpx.post(f"{origin}/v1/live/sessions/{opened['id']}/ticket", headers=headers, timeout=60)).status_code == 503:
            assert time.monotonic() < deadline, ticket.text
            time.sleep(1.0)
        assert ticket.status_code == 201, ticket.text
        assert ticket.json()["url"].startswith(f"ws://127.0.0.1:{proxy_port}/")
        after: list[dict] = []
        asyncio.run(stream(ticket.json()["url"], sent[cut:], end=True, received=after))
        assert int(serving_replica(postgres_url).split(":")[1]) == survivor

        assert after[-1]["type"] == "assessment", after
        message = after[-1]
        assert message["url"] == f"{origin}/v1/assessments/{message['id']}"
        answer = httpx.get(message["url"], headers=headers, timeout=30)
        assert answer.status_code == 200
        assessment = answer.json()
        assert all(link.startswith(origin) for link in links(assessment, [])), links(assessment, [])

        scored_before = [w for w in before if w["type"] == "window" and w["scorable"]]
        scored_after = [w for w in after if w["type"] == "window" and w["scorable"]]
        assert [w["index"] for w in scored_before] == list(range(int(BEFORE_S))), before
        assert scored_after, after
        start = datetime.fromisoformat(assessment["captured_at"])

        def offset(window: dict) -> float:
            return round((datetime.fromisoformat(window["start"]) - start).total_seconds(), 1)

        streamed = {offset(w): w["level"] for w in scored_before + scored_after}
        stored = {round(w["start_s"], 1): w["level"] for w in assessment["windows"] if w["scorable"]}
        scorable = [w for w in assessment["windows"] if w["scorable"]]
        assert len(scorable) == len(stored) == len(scored_before) + len(scored_after), (stored, streamed)  # each second once
        assert stored == streamed  # the same seconds, the same levels

        # X-Forwarded-For: believed from the proxy (PAIN_GATEWAY_TRUSTED_PROXIES), never passed through it from a client
        direct = httpx.get(f"http://127.0.0.1:{ports[[a.pid, b.pid].index(survivor)]}/metrics", headers={"X-Forwarded-For": "10.9.9.9"}, timeout=30)
        assert direct.status_code == 200  # a trusted proxy (loopback) said the client is an allowed scraper
        spoofed = httpx.get(f"{origin}/metrics", headers={"X-Forwarded-For": "10.9.9.9"}, timeout=30)
        assert spoofed.status_code == 401  # the proxy replaced the client's header with the client's own address
    proxy_log = (tmp_path / "haproxy.log").read_text()
    assert "ticket=" not in proxy_log and "MRN" not in proxy_log  # no query strings in the proxy's log

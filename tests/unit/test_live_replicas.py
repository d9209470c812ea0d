"""Live sessions shared by replicas through the database: two ``LiveSessions`` (two replicas' registries) on
one database, SQLite and PostgreSQL. Tickets work once wherever presented, the tenant's limit counts
every replica's sessions, a session resumes from its last stored second on another replica, a replica that
lost a session writes nothing more to it, and exactly one replica ends a session."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import numpy as np
import pytest
from support.live import recorded_points

from gateway.contract.domain import PatientRef, TooBusy
from gateway.storage.baselines import BaselineStore
from gateway.storage.engine import create_engine
from plugins.live_stream import store as live_store
from plugins.live_stream.protocol import Frame, ProtocolError
from plugins.live_stream.registry import LiveSessions, clip_of
from plugins.live_stream.session import LiveLimits
from plugins.live_stream.store import ENDED, LiveStore, Resume, StoredWindow

PATIENT = PatientRef(system="urn:x", value="1")
FACE = np.asarray(recorded_points()[0][:, :2], dtype=np.float32)


def replicas(database_url: str, **options):
    """Two registries (replicas) on one database and a stand-in for the parts of the flow the registry reads
    before a session ends (the engine and the baselines, both real)."""
    engine = create_engine(database_url)
    flow = SimpleNamespace(engine=engine, baselines=BaselineStore(engine))
    return LiveSessions(LiveLimits(), **options), LiveSessions(LiveLimits(), **options), flow, engine


async def opened(registry: LiveSessions, flow, tenant: str = "default", max_open: int = 20) -> str:
    store = registry.attach(flow)
    session_id = f"s-{time.monotonic_ns()}"
    assert await store.create(session_id, tenant, PATIENT, time.time() + registry.idle_timeout_s, max_open) is None
    return session_id


async def ticket(registry: LiveSessions, flow, session_id: str) -> str:
    stored = await registry.attach(flow).get(session_id)
    key = await registry.ticket(stored, flow)
    assert key is not None
    return key


def test_a_ticket_works_once_on_whichever_replica_and_an_expired_one_says_so(database_url):
    async def run():
        a, b, flow, engine = replicas(database_url, ticket_ttl_s=0.2)
        try:
            first, second = await opened(a, flow), await opened(a, flow)
            expired = await ticket(a, flow, first)
            await asyncio.sleep(0.3)
            await ticket(a, flow, second)  # another session's ticket does not drop this one's expired ticket
            with pytest.raises(ProtocolError, match=r"ticket expired \(tickets last 0.2 s\)"):
                await b.redeem(first, expired, flow)
            with pytest.raises(ProtocolError, match="unknown or already used"):
                await a.redeem(first, expired, flow)  # presented once, it is spent
            key = await ticket(a, flow, first)
            with pytest.raises(ProtocolError, match="belongs to another session"):
                await b.redeem(second, key, flow)
            key = await ticket(a, flow, first)
            assert (await b.redeem(first, key, flow)).id == first  # issued by A, redeemed at B
            with pytest.raises(ProtocolError, match="unknown or already used"):
                await a.redeem(first, key, flow)
        finally:
            await a.close()
            await b.close()
            await engine.dispose()

    asyncio.run(run())


def test_the_tenant_limit_counts_every_replicas_sessions(database_url):
    async def run():
        a, b, flow, engine = replicas(database_url)
        try:
            for _ in range(2):
                await opened(a, flow, "t1", max_open=3)
            await opened(b, flow, "t1", max_open=3)
            assert await b.attach(flow).create("over", "t1", PATIENT, time.time() + 30, 3) == 3
            assert await a.attach(flow).create("other-tenant", "t2", PATIENT, time.time() + 30, 3) is None
            assert await a.attach(flow).get("over") is None
        finally:
            await a.close()
            await b.close()
            await engine.dispose()

    asyncio.run(run())


def test_tenant_limit_has_a_clear_429_message():
    error = TooBusy("3 live sessions of this tenant are open, the limit (PAIN_GATEWAY_PLUGIN_LIVE_STREAM_MAX_SESSIONS_PER_TENANT); end one first", 30)
    assert "MAX_SESSIONS_PER_TENANT" in str(error)


def stream(session, first: int, count: int, start_ms: float = 1e12) -> list:
    closed = []
    for i in range(first, first + count):
        closed += session.add(Frame(i, start_ms + i * 1000 / 30, FACE + i * 1e-5))
    return closed


def as_stored(session, window) -> StoredWindow:
    grid = None if window.grid is None else window.grid.astype("<f4").tobytes()
    return StoredWindow(session.id, session.tenant, window.index, window.start_ms, window.frames, {"index": window.index}, grid, session.taken, window.resume)


def test_a_session_resumes_on_another_replica_from_its_last_stored_second(database_url):
    async def run():
        a, b, flow, engine = replicas(database_url)
        try:
            session_id = await opened(a, flow)
            on_a = await a.redeem(session_id, await ticket(a, flow, session_id), flow)
            closed = stream(on_a, 0, 75)  # 2.5 s: seconds 0 and 1 close, half of second 2 is open
            assert [w.index for w in closed] == [0, 1]
            stored = await a.store.save_windows([as_stored(on_a, w) for w in closed], {session_id: (640, 480)})
            assert stored == {(session_id, 0), (session_id, 1)}
            # A dies here: B resumes from the store, not from A's memory
            on_b = await b.redeem(session_id, await ticket(b, flow, session_id), flow)
            assert on_b is not on_a and on_b.window_index == 2 and on_b.last_sequence == 60 and on_b.image_size == (640, 480)
            with pytest.raises(ProtocolError, match="the last frame received was 60"):
                on_b.add(Frame(60, 1e12 + 60 * 1000 / 30, FACE))
            # A, no longer the session's replica, stores nothing more (its take is not current)
            late = stream(on_a, 75, 20)
            assert [w.index for w in late] == [2]
            assert await a.store.save_windows([as_stored(on_a, w) for w in late], {}) == set()
            resumed = stream(on_b, 91, 40)  # frames after the reconnect: seconds 2 (its last 30 frames) and 3 close
            assert [w.index for w in resumed] == [2, 3]
            assert await b.store.save_windows([as_stored(on_b, w) for w in resumed], {}) == {(session_id, 2), (session_id, 3)}
            windows = await b.store.windows(session_id)
            assert [w[0] for w in windows] == [0, 1, 2, 3]  # every second once
            clip = clip_of(await b.store.get(session_id), windows)
            assert clip.frames == 4 * 30 and clip.image_size == (640, 480)
            np.testing.assert_array_equal(clip.points[:30], closed[0].grid)
        finally:
            await a.close()
            await b.close()
            await engine.dispose()

    asyncio.run(run())


def test_exactly_one_replica_ends_an_idle_session_and_a_dead_enders_claim_is_taken_over(database_url, monkeypatch):
    monkeypatch.setattr(live_store, "ENDING_GRACE_S", 1.0)  # long enough that a loaded machine's stall does not end it early

    async def run():
        engine = create_engine(database_url)
        a, b = LiveStore(engine), LiveStore(engine)
        try:
            assert await a.create("s1", "default", PATIENT, time.time() + 0.1, 20) is None
            await asyncio.sleep(0.2)
            claims = await asyncio.gather(*(store.claim_end("s1", name, None) for store, name in ((a, "A"), (b, "B"), (a, "A"), (b, "B"))))
            assert sorted(claims) == [False, False, False, True]
            assert not await b.claim_end("s1", "B", None)  # the claim holds while its replica may be working on it
            await asyncio.sleep(1.1)  # ... and not after: that replica died while ending it
            assert await b.claim_end("s1", "B", None)
            await a.ended("s1", "A", None, "late")  # the dead replica's claim was taken over: its write is ignored
            assert (await a.get("s1")).status == "ending"
            await b.ended("s1", "B", None, "no stored second")
            ended = await a.get("s1")
            assert ended.status == ENDED and ended.outcome == "no stored second"
            assert not await a.claim_end("s1", "A", None)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_an_unused_ticket_holds_a_session_open_until_it_expires_then_a_sweep_ends_it(database_url):
    """Under load a client's WebSocket handshake reached the server more than idle_timeout_s after the session was
    created: the session must still be open for its valid ticket; once the ticket has expired unused, any
    replica's sweep ends it (here without a stored second: ended, with why)."""

    async def run():
        a, b, flow, engine = replicas(database_url, ticket_ttl_s=0.8, idle_timeout_s=0.1)
        try:
            session_id = await opened(a, flow)
            await ticket(a, flow, session_id)
            await asyncio.sleep(0.4)  # idle four times over, the ticket unused
            assert (await a.store.get(session_id)).status == "open"
            b.attach(flow)  # B's sweep runs too: one of the two ends it
            await asyncio.sleep(1.2)
            ended = await a.store.get(session_id)
            assert ended.status == ENDED and ended.assessment_id is None and "no stored second" in ended.outcome
        finally:
            await a.close()
            await b.close()
            await engine.dispose()

    asyncio.run(run())


def test_two_gateways_on_one_database_share_a_session_and_end_it_once(gateway_for):
    """Two apps on one database are two replicas: a session opened and streamed on A, resumed on B with a
    ticket B issued, ended on B; A, which had it last before, neither ends it again nor lets it be reopened."""
    from support.live import PATIENT, frames

    a, b = gateway_for(), gateway_for()
    headers = {"Authorization": f"Bearer {a.tokens['clinician']}"}
    opened = a.client.post("/v1/live/sessions", json={"patient": PATIENT}, headers=headers).json()
    sent = list(frames(4.0))
    with a.client.websocket_connect(f"/v1/live/{opened['id']}?ticket={opened['ticket']}") as socket:
        for _, frame in sent[:75]:
            socket.send_bytes(frame)
        first = [socket.receive_json() for _ in range(2)]
    ticket = b.client.post(f"/v1/live/sessions/{opened['id']}/ticket", headers=headers)
    assert ticket.status_code == 201
    with b.client.websocket_connect(f"/v1/live/{ticket.json()['id']}?ticket={ticket.json()['ticket']}") as socket:
        for _, frame in sent[90:]:  # seconds 2 and 3 (A had half of second 2; its frames were A's alone)
            socket.send_bytes(frame)
        socket.send_text('{"type": "end"}')
        rest = []
        while (message := socket.receive_json())["type"] != "assessment":
            rest.append(message)
    assert [w["index"] for w in first] == [0, 1] and [w["index"] for w in rest] == [2, 3]
    stored = b.client.get(f"/v1/assessments/{message['id']}", headers=headers).json()
    assert [round(w["start_s"]) for w in stored["windows"] if w["scorable"]] == [0, 1, 3]  # second 2: 15 frames, not scored
    assert a.client.post(f"/v1/live/sessions/{opened['id']}/ticket", headers=headers).status_code == 404  # ended, for A too
    admin = {"Authorization": f"Bearer {a.tokens['admin']}"}
    audit = a.client.get("/v1/audit", params={"action": "create"}, headers=admin).json()["items"]
    assert [e["resource_id"] for e in audit if e["resource_type"] == "assessment"] == [message["id"]]  # one assessment, made once
    assert [e["resource_id"] for e in audit if e["resource_type"] == "live_session"] == [opened["id"]]


def window_of(session_id: str, index: int, taken: int) -> StoredWindow:
    resume = Resume(30 * index + 29, 1e12 + 1000 * index + 967, 1e12, index + 1, 1e12 + 1000 * (index + 1), 0)
    return StoredWindow(session_id, "default", index, 1e12 + 1000 * index, 30, {"index": index}, b"grid", taken, resume)


def test_two_replicas_writing_crossed_stale_windows_and_heartbeats_never_deadlock(database_url):
    """S1 went from replica A to B and S2 from B to A while each still had a window of the session it lost: their
    batched writes (and heartbeats) run at once, round after round. Each stores only its current session's
    windows, and neither waits on the other's row (a deadlock aborted whole batches before)."""

    async def run():
        engines = create_engine(database_url), create_engine(database_url)
        a, b = LiveStore(engines[0]), LiveStore(engines[1])
        try:
            s1, s2 = f"s1-{time.monotonic_ns()}", f"s2-{time.monotonic_ns()}"
            for session_id in (s1, s2):
                assert await a.create(session_id, "default", PATIENT, time.time() + 60, 20) is None
            stale_a, stale_b = await a.take(s1, "A", time.time() + 60), await b.take(s2, "B", time.time() + 60)
            current_b, current_a = await b.take(s1, "B", time.time() + 60), await a.take(s2, "A", time.time() + 60)
            for index in range(20):
                stored = await asyncio.gather(
                    a.save_windows([window_of(s1, index, stale_a), window_of(s2, index, current_a)], {s1: (640, 480), s2: (640, 480)}),
                    b.save_windows([window_of(s2, index, stale_b), window_of(s1, index, current_b)], {s1: (640, 480), s2: (640, 480)}),
                    a.hold([s2, s1], "A", time.time() + 60),
                    b.hold([s1, s2], "B", time.time() + 60),
                )
                assert stored[:2] == [{(s2, index)}, {(s1, index)}]
            assert [w[0] for w in await a.windows(s1)] == [w[0] for w in await a.windows(s2)] == list(range(20))
            assert (await a.get(s1)).resume.window_index == (await a.get(s2)).resume.window_index == 20
        finally:
            for engine in engines:
                await engine.dispose()

    asyncio.run(run())


def test_a_second_stored_twice_keeps_its_first_row_and_costs_no_other_session_its_seconds(database_url):
    """A resumed connection may score again a second the old one stored just before the take: that duplicate
    must not roll back the batch it shares with other sessions' seconds."""

    async def run():
        engine = create_engine(database_url)
        store = LiveStore(engine)
        try:
            s1, s2 = f"d1-{time.monotonic_ns()}", f"d2-{time.monotonic_ns()}"
            for session_id in (s1, s2):
                assert await store.create(session_id, "default", PATIENT, time.time() + 60, 20) is None
            take1, take2 = await store.take(s1, "A", time.time() + 60), await store.take(s2, "A", time.time() + 60)
            assert await store.save_windows([window_of(s1, 0, take1)], {}) == {(s1, 0)}
            again = StoredWindow(s1, "default", 0, 1e12, 30, {"index": 0, "again": True}, b"grid", take1, None)
            assert await store.save_windows([again, window_of(s2, 0, take2)], {}) == {(s1, 0), (s2, 0)}
            assert [w[0] for w in await store.windows(s1)] == [0] and [w[0] for w in await store.windows(s2)] == [0]
        finally:
            await engine.dispose()

    asyncio.run(run())

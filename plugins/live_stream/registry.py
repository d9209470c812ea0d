"""Live sessions across replicas: creation (capped per tenant), single-use tickets, resuming anywhere, the end as one assessment.

The database holds every session (``plugins.live_stream.store``): a reconnect with a new ticket may reach
any replica behind the proxy and resumes from the last stored window; a replica that dies leaves its
sessions resumable until their idle deadline, after which any replica ends them as an assessment of the
windows stored. This process keeps, per session it serves, only the frames of the open second (and the
session's recent frames for interpolation), in ``sessions``. Tickets exist because browsers cannot set an
``Authorization`` header on a WebSocket: the session is created with a token, the socket opened with a
ticket that works once, for ``ticket_ttl_s`` seconds, on whichever replica it reaches.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import socket
import time
import uuid
from datetime import UTC, datetime

import msgspec
import numpy as np
import structlog

from gateway import (
    LANDMARK_COUNT,
    MODEL_FPS,
    WINDOW_FRAMES,
    Assessed,
    AssessmentFlow,
    CaptureRequest,
    InputError,
    LandmarkClip,
    PatientRef,
    Plugins,
    TooBusy,
    audit_record,
    warm_model,
)
from plugins.live_stream.batch import BatchScorer
from plugins.live_stream.protocol import ProtocolError
from plugins.live_stream.session import LiveLimits, LiveSession
from plugins.live_stream.store import ENDED, LiveStore, StoredSession
from plugins.live_stream.writer import WindowWriter

log = structlog.get_logger(__name__)

MEDIA_TYPE = "application/x-pain-live-session"
"""How a finished session reaches ``AssessmentFlow``: the 30 fps grid as a ``CaptureRequest`` that only
this process builds (``plugins.live_stream`` accepts it only with its ``session`` field)."""
LANDMARK_SHAPE = (LANDMARK_COUNT, 2)
SWEEP_S = 1.0
"""How often a replica looks for sessions past their idle deadline (any replica's) and holds its own open."""
END_WAIT_S = 30.0
"""How long an ``end`` waits for another replica that is ending the same session."""


def replica_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LiveSessions:
    def __init__(
        self, limits: LiveLimits, *, ticket_ttl_s: float = 60.0, max_sessions_per_tenant: int = 20, idle_timeout_s: float = 30.0, score_batch: int = 64
    ) -> None:
        self.score_batch = score_batch
        self.limits, self.ticket_ttl_s, self.idle_timeout_s = limits, ticket_ttl_s, idle_timeout_s
        self.max_sessions_per_tenant = max_sessions_per_tenant
        self.replica = replica_name()
        self.sessions: dict[str, LiveSession] = {}  # the sessions this replica serves (or served last)
        self.finishing: dict[str, asyncio.Future] = {}
        self.background: set[asyncio.Task] = set()
        self.trimming: asyncio.Task | None = None
        self.sweeper: asyncio.Task | None = None
        self.store: LiveStore | None = None
        self.writer = WindowWriter(lambda: self.store)
        self.batch: BatchScorer | None = None
        self.warm = False
        self.sweep_s = min(SWEEP_S, idle_timeout_s / 2)

    def batch_for(self, plugins: Plugins) -> BatchScorer:
        """The replica's one queue of windows to score (``plugins.live_stream.batch``)."""
        if self.batch is None or self.batch.plugins is not plugins:
            self.batch = BatchScorer(plugins, self.score_batch)
        return self.batch

    def attach(self, flow: AssessmentFlow) -> LiveStore:
        """The store on the gateway's database, and this replica's sweeper, from the first live call on."""
        if self.store is None or self.store.engine is not flow.engine:
            self.store = LiveStore(flow.engine)
        if self.sweeper is None or self.sweeper.done():
            self.sweeper = asyncio.get_running_loop().create_task(self._sweep(flow))
        return self.store

    async def create(self, tenant: str, patient: PatientRef, flow: AssessmentFlow) -> StoredSession:
        store = self.attach(flow)
        await flow.check_storage(tenant)  # its clip is kept at the end: refused now, not after the session
        if not self.warm:  # the first window must not pay for loading the weights (seconds)
            await asyncio.to_thread(warm_model, flow.plugins)
            self.warm = True
        session_id = str(uuid.uuid4())
        refused = await store.create(session_id, tenant, patient, time.time() + self.idle_timeout_s, self.max_sessions_per_tenant)
        if refused is not None:
            raise TooBusy(
                f"{refused} live sessions of this tenant are open, the limit ({self.limits.setting_prefix}MAX_SESSIONS_PER_TENANT); end one first",
                retry_after_s=30,
            )
        await audit_record(flow.engine, "create", "live_session", session_id, patient=patient)
        stored = await store.get(session_id, tenant)
        assert stored is not None
        return stored

    async def get(self, session_id: str, tenant: str, flow: AssessmentFlow) -> StoredSession | None:
        """The tenant's open session (another tenant's reads as none)."""
        stored = await self.attach(flow).get(session_id, tenant)
        return stored if stored is not None and stored.status == "open" else None

    async def ticket(self, session: StoredSession, flow: AssessmentFlow) -> str | None:
        """A new single-use ticket; earlier ones of the session stop working. The session stays open at least
        until it expires (its client may be connecting), however busy the server. ``None``: it has ended."""
        key = secrets.token_urlsafe(24)
        issued = await self.attach(flow).issue_ticket(session.id, session.tenant, key, time.time() + self.ticket_ttl_s, self.idle_timeout_s)
        return key if issued else None

    async def redeem(self, session_id: str, key: str | None, flow: AssessmentFlow) -> LiveSession:
        """The session a ticket opens, consuming the ticket, resumed on this replica; ``ProtocolError`` says why not."""
        store = self.attach(flow)
        redeemed = await store.redeem(key) if key else None
        if redeemed is None:
            raise ProtocolError("missing, unknown or already used ticket: get one with POST /v1/live/sessions/{id}/ticket (tickets work once)")
        ticket_session, expires = redeemed
        if ticket_session != session_id:
            raise ProtocolError("this ticket belongs to another session")
        if expires < time.time():
            raise ProtocolError(f"ticket expired (tickets last {self.ticket_ttl_s:g} s): get a new one with POST /v1/live/sessions/{{id}}/ticket")
        stored = await store.get(session_id)
        ended = ProtocolError("the session has ended; create a new one with POST /v1/live/sessions")
        if stored is None or stored.status != "open":
            raise ended
        local = self.sessions.get(session_id)
        if local is None or local.taken != stored.taken:  # never here, or another replica has served it since: resume from the store
            baseline = await flow.baselines.get(stored.patient, stored.tenant)
            local = LiveSession(stored.id, stored.tenant, stored.patient, self.limits, baseline)
            local.resume_from(stored.resume, stored.image_size)
        taken = await store.take(session_id, self.replica, time.time() + self.idle_timeout_s)
        if taken is None:
            raise ended
        local.taken = taken
        local.last_activity = time.monotonic()
        self.sessions[session_id] = local
        return local

    async def left(self, session: LiveSession) -> None:
        """Its client left: resumable by any replica for ``idle_timeout_s``."""
        if self.store is not None:
            await self.store.release(session.id, session.taken, time.time() + self.idle_timeout_s)

    async def _sweep(self, flow: AssessmentFlow) -> None:
        """Each ``SWEEP_S``: hold open the sessions connected here, end every replica's sessions past their
        deadline (the first replica to claim one ends it), forget local copies no client uses."""
        while True:
            try:
                await asyncio.sleep(self.sweep_s)
                assert self.store is not None
                connected = [s.id for s in self.sessions.values() if s.socket is not None]
                await self.store.hold(connected, self.replica, time.time() + self.idle_timeout_s)
                for session_id in await self.store.overdue():
                    if session_id not in self.finishing:
                        log.info("live_session_idle", session=session_id)
                        await self.finish(session_id, flow, taken=None)
                now = time.monotonic()
                for session in [s for s in self.sessions.values() if s.socket is None and now - s.last_activity > self.idle_timeout_s]:
                    self.forget(session)
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup: look again next time
                log.exception("live_sweep_failed")

    def forget(self, session: LiveSession) -> None:
        if self.sessions.get(session.id) is session:
            del self.sessions[session.id]
        session.release()
        self.trim_soon()

    async def finish(self, session_id: str, flow: AssessmentFlow, *, taken: int | None) -> Assessed | InputError | str | None:
        """End the session as one assessment of its stored windows, once across replicas: from its connection
        (``taken``) or as idle (``None``). Returns the assessment, why there is none, the id of the
        assessment another replica made (``str``), or ``None`` when it was not this caller's to end."""
        future = self.finishing.get(session_id)
        if future is None:
            future = self.finishing[session_id] = asyncio.ensure_future(self._finish(session_id, flow, taken))
            future.add_done_callback(lambda _: self.finishing.pop(session_id, None))
        return await asyncio.shield(future)

    async def _finish(self, session_id: str, flow: AssessmentFlow, taken: int | None) -> Assessed | InputError | str | None:
        store = self.attach(flow)
        local = self.sessions.get(session_id)
        if not await store.claim_end(session_id, self.replica, taken):
            return await self._ended_elsewhere(session_id) if taken is not None else None
        if local is not None:
            self.forget(local)
        stored = await store.get(session_id)
        assert stored is not None
        windows = await store.windows(session_id)
        result: Assessed | InputError
        try:
            try:
                clip = await asyncio.to_thread(clip_of, stored, windows)
                clip = await flow.capture_keypoints(as_request(session_id, clip))
                result = await flow.assess(clip, stored.tenant)
            except InputError as exc:
                log.info("live_session_unscorable", session=session_id, field=exc.field, windows=len(windows))
                result = exc
        finally:
            self.trim_soon()
        if isinstance(result, InputError):
            await store.ended(session_id, self.replica, None, str(result))
            return result
        await store.ended(session_id, self.replica, result.assessment.id, None)
        log.info("live_session_assessed", session=session_id, assessment=result.assessment.id, windows=len(windows))
        return result

    async def _ended_elsewhere(self, session_id: str) -> str | InputError | None:
        """Another replica (or this one, idle) is ending it: wait for its assessment's id."""
        assert self.store is not None
        deadline = time.monotonic() + END_WAIT_S
        while time.monotonic() < deadline:
            stored = await self.store.get(session_id)
            if stored is None:
                return None
            if stored.status == ENDED:
                return stored.assessment_id or InputError("session", stored.outcome or "the session was not assessed")
            await asyncio.sleep(0.2)
        return None

    def trim_soon(self) -> None:
        """Once the session's last arrays are freed, the heap's free pages go back to the OS (at most one trim at a time)."""
        if self.trimming is None or self.trimming.done():
            self.trimming = asyncio.get_running_loop().create_task(asyncio.to_thread(release_free_memory))

    async def close(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.sweeper


def clip_of(stored: StoredSession, windows: list[tuple[int, float, int, bytes | None]]) -> LandmarkClip:
    """The session's stored seconds on one 30 fps grid from the first to the last: each window's 30 frames at
    its capture time, NaN (no face) for unscorable seconds and pauses. Bounded: a session spans at most
    ``max_session_s``."""
    if not windows:
        raise InputError("frames", "the session has no stored second: stream at least one second of frames before 'end'")
    start = windows[0][1]
    count = int(round((windows[-1][1] - start) * MODEL_FPS / 1000.0)) + WINDOW_FRAMES
    grid = np.full((count, *LANDMARK_SHAPE), np.nan, dtype=np.float32)
    for _, start_ms, _, data in windows:
        if data is None:
            continue
        at = int(round((start_ms - start) * MODEL_FPS / 1000.0))
        grid[at : at + WINDOW_FRAMES] = np.frombuffer(data, dtype="<f4").reshape(WINDOW_FRAMES, *LANDMARK_SHAPE)[: count - at]
    return LandmarkClip(stored.patient, datetime.fromtimestamp(start / 1000, UTC), MODEL_FPS, grid, stored.image_size, source="live_stream")


def _malloc_trim() -> ctypes._CFuncPtr | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc
    except (OSError, AttributeError):  # another C library: memory is given back as it gives it back
        return None


MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """glibc's ``malloc_trim(0)``: free pages inside the heaps (all threads' arenas) go back to the OS. What
    a session's windows and assessment freed is otherwise kept by the process, in pieces too small to be
    given back on their own; a best effort, a no-op where the C library has no ``malloc_trim``."""
    if MALLOC_TRIM is not None:
        MALLOC_TRIM(0)


def as_request(session_id: str, clip: LandmarkClip) -> CaptureRequest:
    fields = {
        "session": session_id,
        "patient": msgspec.json.encode(clip.patient).decode(),
        "captured_at": clip.captured_at.isoformat(),
        "fps": str(clip.fps),
        "frames": str(clip.frames),
        "image_size": ",".join(map(str, clip.image_size or ())),
    }
    return CaptureRequest(MEDIA_TYPE, body=np.ascontiguousarray(clip.points, dtype="<f4").tobytes(), fields=fields)

"""Live sessions of this process: creation (capped per tenant), single-use tickets, the end as one assessment.

Sessions live in memory: a reconnect must reach the same gateway process (sticky routing), and a
restart ends open sessions without an assessment. Tickets exist because browsers cannot set an
``Authorization`` header on a WebSocket: the session is created with a token, the socket opened with
a ticket that works once, for ``ticket_ttl_s`` seconds.
"""

from __future__ import annotations

import asyncio
import ctypes
import secrets
import time
import uuid
from dataclasses import dataclass

import msgspec
import numpy as np
import structlog

from gateway import Assessed, AssessmentFlow, CaptureRequest, InputError, LandmarkClip, PatientRef, TooBusy, audit_record, warm_model
from plugins.live_stream.protocol import ProtocolError
from plugins.live_stream.session import LiveLimits, LiveSession

log = structlog.get_logger(__name__)

MEDIA_TYPE = "application/x-pain-live-session"
"""How a finished session reaches ``AssessmentFlow``: the 30 fps grid as a ``CaptureRequest`` that only
this process builds (``plugins.live_stream`` accepts it only with its ``session`` field)."""


@dataclass(frozen=True)
class Ticket:
    session_id: str
    expires: float


class LiveSessions:
    def __init__(self, limits: LiveLimits, *, ticket_ttl_s: float = 60.0, max_sessions_per_tenant: int = 20, idle_timeout_s: float = 30.0) -> None:
        self.limits, self.ticket_ttl_s, self.idle_timeout_s = limits, ticket_ttl_s, idle_timeout_s
        self.max_sessions_per_tenant = max_sessions_per_tenant
        self.sessions: dict[str, LiveSession] = {}
        self.tickets: dict[str, Ticket] = {}
        self.finishing: dict[str, asyncio.Future] = {}
        self.background: set[asyncio.Task] = set()
        self.trimming: asyncio.Task | None = None
        self.warm = False

    async def create(self, tenant: str, patient: PatientRef, flow: AssessmentFlow) -> LiveSession:
        open_sessions = sum(1 for s in self.sessions.values() if s.tenant == tenant)
        if open_sessions >= self.max_sessions_per_tenant:
            raise TooBusy(
                f"{open_sessions} live sessions of this tenant are open, the limit ({self.limits.setting_prefix}MAX_SESSIONS_PER_TENANT); end one first",
                retry_after_s=30,
            )
        await flow.check_storage(tenant)  # its clip is kept at the end: refused now, not after the session
        if not self.warm:  # the first window must not pay for loading the weights (seconds)
            await asyncio.to_thread(warm_model, flow.plugins)
            self.warm = True
        baseline = await flow.baselines.get(patient, tenant)
        session = LiveSession(str(uuid.uuid4()), tenant, patient, self.limits, baseline)
        self.sessions[session.id] = session
        await audit_record(flow.engine, "create", "live_session", session.id, patient=patient)
        self.expire_when_idle(session, flow)
        return session

    def get(self, session_id: str, tenant: str) -> LiveSession | None:
        session = self.sessions.get(session_id)
        return session if session is not None and session.tenant == tenant else None

    def ticket(self, session: LiveSession) -> str:
        """A new single-use ticket; earlier unused ones of the session stop working. An expired ticket is
        kept (at most one a session, dropped when the session ends) so presenting it says it expired.
        Asking for a ticket is activity: the session's idle clock starts again."""
        for key in [k for k, t in self.tickets.items() if t.session_id == session.id]:
            del self.tickets[key]
        key = secrets.token_urlsafe(24)
        self.tickets[key] = Ticket(session.id, time.monotonic() + self.ticket_ttl_s)
        session.last_activity = time.monotonic()
        return key

    def ticket_pending(self, session: LiveSession) -> float | None:
        """When the session's unused ticket expires, if it has one that has not: its client may be connecting."""
        now = time.monotonic()
        return next((t.expires for t in self.tickets.values() if t.session_id == session.id and t.expires >= now), None)

    def redeem(self, session_id: str, key: str | None) -> LiveSession:
        """The session a ticket opens, consuming the ticket; ``ProtocolError`` says why not."""
        ticket = self.tickets.pop(key, None) if key else None
        if ticket is None:
            raise ProtocolError("missing, unknown or already used ticket: get one with POST /v1/live/sessions/{id}/ticket (tickets work once)")
        if ticket.session_id != session_id:
            raise ProtocolError("this ticket belongs to another session")
        if ticket.expires < time.monotonic():
            raise ProtocolError(f"ticket expired (tickets last {self.ticket_ttl_s:g} s): get a new one with POST /v1/live/sessions/{{id}}/ticket")
        session = self.sessions.get(session_id)
        if session is None:
            raise ProtocolError("the session has ended; create a new one with POST /v1/live/sessions")
        return session

    def expire_when_idle(self, session: LiveSession, flow: AssessmentFlow) -> None:
        """With no client connected for ``idle_timeout_s`` the session ends (a connected, silent client is
        ended by its connection, which can still tell it). A session whose ticket is unused and unexpired is
        not idle: under load its client's WebSocket handshake may reach the server later than
        ``idle_timeout_s`` after the session was created, and must find the session open."""

        async def watch() -> None:
            while session.id in self.sessions:
                idle = time.monotonic() - session.last_activity
                pending = self.ticket_pending(session)
                if session.socket is None and idle >= self.idle_timeout_s and pending is None:
                    log.info("live_session_idle", session=session.id, idle_s=round(idle, 1))
                    await self.finish(session, flow)
                    return
                if idle < self.idle_timeout_s:
                    wait = self.idle_timeout_s - idle
                else:  # connected, or its ticket is still to be used: look again when the ticket expires at the latest
                    wait = self.idle_timeout_s if pending is None else min(self.idle_timeout_s, pending - time.monotonic())
                await asyncio.sleep(wait + 0.05)

        task = asyncio.get_running_loop().create_task(watch())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def finish(self, session: LiveSession, flow: AssessmentFlow) -> Assessed | InputError:
        """The whole session as one assessment through the flow, once however many callers ask."""
        future = self.finishing.get(session.id)
        if future is None:
            future = self.finishing[session.id] = asyncio.ensure_future(self._finish(session, flow))
            future.add_done_callback(lambda _: self.finishing.pop(session.id, None))
        return await asyncio.shield(future)

    async def _finish(self, session: LiveSession, flow: AssessmentFlow) -> Assessed | InputError:
        self.sessions.pop(session.id, None)
        for key in [k for k, t in self.tickets.items() if t.session_id == session.id]:
            del self.tickets[key]
        frames = session.frames
        try:
            try:
                clip = await asyncio.to_thread(session.clip)
            finally:
                session.release()  # the frames are in the clip now (or nowhere): their blocks go back to the OS
            clip = await flow.capture_keypoints(as_request(session.id, clip))
            assessed = await flow.assess(clip, session.tenant)
        except InputError as exc:
            log.info("live_session_unscorable", session=session.id, field=exc.field, frames=frames)
            return exc
        finally:
            self.trim_soon()
        log.info("live_session_assessed", session=session.id, assessment=assessed.assessment.id, frames=frames)
        return assessed

    def trim_soon(self) -> None:
        """Once the session's last arrays are freed, the heap's free pages go back to the OS (at most one trim at a time)."""
        if self.trimming is None or self.trimming.done():
            self.trimming = asyncio.get_running_loop().create_task(asyncio.to_thread(release_free_memory))


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

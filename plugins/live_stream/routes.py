"""``POST /v1/live/sessions``, ``POST /v1/live/sessions/{id}/ticket`` and the WebSocket ``/v1/live/{id}``.

Creating a session and getting a ticket need a token (clinician, telehealth, integrator); the
WebSocket is opened with the ticket alone (browsers cannot send headers on it), once.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, WebSocket, post, websocket
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody

from gateway.auth import PUBLIC
from gateway.flow import AssessmentFlow
from gateway.live.connection import POLICY_VIOLATION, serve_connection
from gateway.live.protocol import ErrorMessage, ProtocolError, encode
from gateway.live.registry import LiveSessions
from gateway.live.session import LiveSession
from gateway.metadata import parse_patient
from gateway.settings import Settings
from plugins.live_stream.settings import LiveSettings

STREAMERS = {"clinician", "telehealth", "integrator"}
TAGS = ["live"]


class LiveSessionCreate(msgspec.Struct):
    """The patient as in a submission: ``{"identifier": {"system", "value"}}`` or ``{"reference": "Patient/<id>"}``."""

    patient: dict[str, Any]


class LiveSessionOpened(msgspec.Struct):
    """``url`` opens the WebSocket once, within ``expires_in_s``; after that ask for a new ticket."""

    id: str
    ticket: str
    url: str
    expires_in_s: float


def build_routes(config: LiveSettings, settings: Settings) -> list:
    live = LiveSessions(
        config.limits(settings.max_gap_frames),
        ticket_ttl_s=config.ticket_ttl_s,
        max_sessions_per_tenant=config.max_sessions_per_tenant,
        idle_timeout_s=config.idle_timeout_s,
    )
    socket_base = settings.base_url.replace("http", "ws", 1)

    def opened(session: LiveSession) -> LiveSessionOpened:
        ticket = live.ticket(session)
        return LiveSessionOpened(session.id, ticket, f"{socket_base}/v1/live/{session.id}?ticket={ticket}", config.ticket_ttl_s)

    @post("/v1/live/sessions", opt={"roles": STREAMERS}, tags=TAGS, status_code=201)
    async def create_session(request: Request, data: JSONBody[LiveSessionCreate], flow: NamedDependency[AssessmentFlow]) -> LiveSessionOpened:
        """Open a live session for a patient; stream landmark frames to ``url`` (README: Live scoring protocol).

        429 when the tenant has ``max_sessions_per_tenant`` sessions open."""
        session = await live.create(request.user.tenant, parse_patient(data.patient), flow)
        return opened(session)

    @post("/v1/live/sessions/{session_id:str}/ticket", opt={"roles": STREAMERS}, tags=TAGS, status_code=201)
    async def new_ticket(session_id: FromPath[str], request: Request) -> LiveSessionOpened:
        """A new single-use ticket to reconnect to an open session: the session resumes where it was."""
        session = live.get(session_id, request.user.tenant)
        if session is None:
            raise NotFoundException(f"no open live session {session_id!r}; sessions end on 'end' or after idle_timeout_s without frames")
        return opened(session)

    @websocket("/v1/live/{session_id:str}", opt=PUBLIC)
    async def stream(socket: WebSocket, session_id: FromPath[str], flow: NamedDependency[AssessmentFlow]) -> None:
        """Binary landmark frames in, ``window`` results out each second, ``assessment`` after ``end``."""
        await socket.accept()
        try:
            session = live.redeem(session_id, socket.query_params.get("ticket"))
        except ProtocolError as exc:
            await socket.send_text(encode(ErrorMessage(str(exc), fatal=True)).decode())
            await socket.close(POLICY_VIOLATION, str(exc)[:120])
            return
        await serve_connection(socket, session, live, flow, send_queue=config.send_queue, max_errors=config.max_errors)

    return [create_session, new_ticket, stream]

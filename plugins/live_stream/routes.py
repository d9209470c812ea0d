"""``POST /v1/live/sessions``, ``POST /v1/live/sessions/{id}/ticket`` and the WebSocket ``/v1/live/{id}``.

Creating a session and getting a ticket need a token (clinician, telehealth, integrator); the
WebSocket is opened with the ticket alone (browsers cannot send headers on it), once.
The live page (``/ui/live``) does the same two calls under ``/ui/live/sessions`` with its signed-in UI
session (cookie and CSRF form field) instead of a token, which a page must never hold.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, WebSocket, post, websocket
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath

from gateway import LIVE_ROLES, PUBLIC, AssessmentFlow, Settings, SignInRequired, ok, parse_patient, problem, problems, session_guard, ui_opt
from plugins.live_stream.connection import POLICY_VIOLATION, serve_connection
from plugins.live_stream.protocol import ErrorMessage, ProtocolError, encode
from plugins.live_stream.registry import LiveSessions
from plugins.live_stream.settings import LiveSettings
from plugins.live_stream.store import StoredSession

STREAMERS = {"clinician", "telehealth", "integrator"}
TAGS = ["live"]
PAGE_OPT = ui_opt(LIVE_ROLES)
NO_STORE = CacheControlHeader(no_store=True)  # the answer holds a ticket


def signed_out(request: Request, exc: SignInRequired) -> Response:
    """The page's calls answer JSON, not the sign-in redirect of a page."""
    return problem(401, "Unauthorized", "the UI session has ended; sign in again at /ui/sign-in and reload the live page")


class LiveSessionCreate(msgspec.Struct):
    """The patient as in a submission: ``{"identifier": {"system", "value"}}`` or ``{"reference": "Patient/<id>"}``."""

    patient: dict[str, Any]


class LiveSessionOpened(msgspec.Struct):
    """``url`` opens the WebSocket once, within ``expires_in_s``; after that ask for a new ticket."""

    id: str
    ticket: str
    url: str
    expires_in_s: float


SESSION_ID = "3f0c2a9e-5b1d-4c6e-9a7f-2d8b1e4c6a10"
OPENED_EXAMPLE = LiveSessionOpened(SESSION_ID, "Vy4tGG_UxP0IollH8wedLDn7RnMboYmw",
                                   f"wss://gateway.example.org/v1/live/{SESSION_ID}?ticket=Vy4tGG_UxP0IollH8wedLDn7RnMboYmw", 60.0)  # fmt: skip
CREATE_EXAMPLE = Example(summary="A patient by MRN", value={"patient": {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-1234"}}})
OPENED = ok(LiveSessionOpened, OPENED_EXAMPLE, 201, description="Open the WebSocket at url with the ticket, once")
CREATE_RESPONSES = OPENED | problems(
    400,
    415,
    422,
    429,
    details={
        422: ("must be a non-empty string", "patient.identifier.value"),
        429: ("20 live sessions of this tenant are open, the limit (PAIN_GATEWAY_PLUGIN_LIVE_STREAM_MAX_SESSIONS_PER_TENANT); end one first", None),
    },
)
TICKET_RESPONSES = OPENED | problems(
    400,
    404,
    details={
        404: (f"no open live session {SESSION_ID!r}; sessions end on 'end' or after idle_timeout_s without frames", None),
    },
)


def build_routes(config: LiveSettings, settings: Settings) -> list:
    live = LiveSessions(
        config.limits(settings.max_gap_frames),
        ticket_ttl_s=config.ticket_ttl_s,
        max_sessions_per_tenant=config.max_sessions_per_tenant,
        idle_timeout_s=config.idle_timeout_s,
        score_batch=config.score_batch,
    )
    socket_base = settings.base_url.replace("http", "ws", 1)

    def gone(session_id: str) -> NotFoundException:
        return NotFoundException(f"no open live session {session_id!r}; sessions end on 'end' or after idle_timeout_s without frames")

    async def opened(session: StoredSession, flow: AssessmentFlow) -> LiveSessionOpened:
        ticket = await live.ticket(session, flow)
        if ticket is None:  # ended meanwhile (its idle deadline passed on another replica)
            raise gone(session.id)
        return LiveSessionOpened(session.id, ticket, f"{socket_base}/v1/live/{session.id}?ticket={ticket}", config.ticket_ttl_s)

    async def reopened(session_id: str, tenant: str, flow: AssessmentFlow) -> LiveSessionOpened:
        session = await live.get(session_id, tenant, flow)
        if session is None:
            raise gone(session_id)
        return await opened(session, flow)

    @post("/v1/live/sessions", opt={"roles": STREAMERS}, tags=TAGS, status_code=201, responses=CREATE_RESPONSES)
    async def create_session(
        request: Request, data: Annotated[LiveSessionCreate, Body(examples=[CREATE_EXAMPLE])], flow: NamedDependency[AssessmentFlow]
    ) -> LiveSessionOpened:
        """Open a live session for a patient; stream landmark frames to ``url`` (docs/guides/telehealth.md: Live scoring protocol).

        429 when the tenant has ``max_sessions_per_tenant`` sessions open."""
        session = await live.create(request.user.tenant, parse_patient(data.patient), flow)
        return await opened(session, flow)

    @post("/v1/live/sessions/{session_id:str}/ticket", opt={"roles": STREAMERS}, tags=TAGS, status_code=201, responses=TICKET_RESPONSES)
    async def new_ticket(session_id: FromPath[str], request: Request, flow: NamedDependency[AssessmentFlow]) -> LiveSessionOpened:
        """A new single-use ticket to reconnect to an open session, through any replica: the session resumes
        from its last stored second."""
        return await reopened(session_id, request.user.tenant, flow)

    page_call = {
        "opt": PAGE_OPT,
        "guards": [session_guard],
        "exception_handlers": {SignInRequired: signed_out},
        "include_in_schema": False,
        "status_code": 201,
        "cache_control": NO_STORE,
    }

    @post("/ui/live/sessions", **page_call)
    async def create_page_session(request: Request, flow: NamedDependency[AssessmentFlow]) -> LiveSessionOpened:
        """The live page's Start: a form with the patient's ``system`` and ``value`` (and ``csrf``, checked by the guard)."""
        form = await request.form()
        patient = {"identifier": {"system": str(form.get("system", "")), "value": str(form.get("value", ""))}}
        session = await live.create(request.user.tenant, parse_patient(patient), flow)
        return await opened(session, flow)

    @post("/ui/live/sessions/{session_id:str}/ticket", **page_call)
    async def new_page_ticket(session_id: FromPath[str], request: Request, flow: NamedDependency[AssessmentFlow]) -> LiveSessionOpened:
        """The live page reconnecting to its session."""
        return await reopened(session_id, request.user.tenant, flow)

    @websocket("/v1/live/{session_id:str}", opt=PUBLIC)
    async def stream(socket: WebSocket, session_id: FromPath[str], flow: NamedDependency[AssessmentFlow]) -> None:
        """Binary landmark frames in, ``window`` results out each second, ``assessment`` after ``end``."""
        await socket.accept()
        try:
            session = await live.redeem(session_id, socket.query_params.get("ticket"), flow)
        except ProtocolError as exc:
            await socket.send_text(encode(ErrorMessage(str(exc), fatal=True)).decode())
            await socket.close(POLICY_VIOLATION, str(exc)[:120])
            return
        await serve_connection(socket, session, live, flow, send_queue=config.send_queue, max_errors=config.max_errors)

    return [create_session, new_ticket, create_page_session, new_page_ticket, stream]

"""The Litestar application: core routes, plugin routes, auth, problem details, request ids."""

from __future__ import annotations

import gc
import uuid
from datetime import timedelta
from types import SimpleNamespace

import structlog
from litestar import Litestar, Request, Response
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, ExceptionHandlersMap, Receive, Scope, Send

from gateway.contract.domain import SYNTHETIC_DISCLAIMER
from gateway.contract.plugin_manager import Plugins, build_plugins
from gateway.ops.settings import Settings
from gateway.service.flow import AssessmentFlow
from gateway.service.jobs.distributed import DistributedJobs
from gateway.service.jobs.embedded import EmbeddedJobs
from gateway.service.scoring_pool import scoring_for
from gateway.storage.engine import create_engine
from gateway.storage.tokens import TokenStore
from gateway.web import json_bodies, metrics, openapi, problems
from gateway.web.auth import SCHEMA_PATH, BearerTokenMiddleware, FailureThrottle, role_guard
from gateway.web.routes import assessments, deliveries, explanations, monitoring, pages, reviews, system
from gateway.web.routes import audit as audit_routes
from gateway.web.routes import baselines as baselines_routes
from gateway.web.ui import is_page as is_ui_page
from gateway.web.ui import router as ui_router
from gateway.web.ui.sessions import SessionStore

log = structlog.get_logger(__name__)


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Bind a request id (the caller's ``X-Request-ID`` or a new one) to every log line and echo it."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = incoming if incoming.replace("-", "").isalnum() else uuid.uuid4().hex

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
                log.info("request", method=scope["method"], path=scope["path"], status=message["status"])
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await app(scope, receive, send_with_id)

    return middleware


def http_hygiene(app: ASGIApp, cors: bool) -> ASGIApp:
    """Outside Litestar's router: ``HEAD`` runs the ``GET`` handler (auth included) and sends no body;
    without ``PAIN_GATEWAY_CORS_ORIGINS`` a CORS preflight is refused, so browsers get a clear 403."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and not cors:
            headers = dict(scope["headers"])
            if b"origin" in headers and b"access-control-request-method" in headers:
                detail = "cross-origin requests are not enabled; an operator can allow origins with PAIN_GATEWAY_CORS_ORIGINS"
                await problems.asgi_problem(send, 403, "Forbidden", detail)
                return
        if scope["method"] != "HEAD":
            await app(scope, receive, send)
            return

        async def send_headers_only(message):
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await app({**scope, "method": "GET"}, receive, send_headers_only)

    return middleware


def create_app(settings: Settings, plugins: Plugins | None = None, *, warm: bool = False) -> Litestar:
    """``warm``: ``PAIN_GATEWAY_SCORING_PROCESSES`` processes start to parse and score submissions
    (``gateway.service.scoring_pool``; with 0 this process does, its model loaded now) and the embedded workers
    start (loading MediaPipe and the model) with the app, rather than on the first submission;
    ``pain-gateway serve`` asks for it. Without it the app starts nothing and scores in its threads."""
    plugins = plugins or build_plugins(settings)
    engine = create_engine(settings.database_url)

    async def start_scoring(app: Litestar) -> None:
        await scoring.start()

    async def start_jobs(app: Litestar) -> None:
        await jobs.start()

    async def dispose(app: Litestar) -> None:
        await jobs.stop()
        await scoring.stop()
        await engine.dispose()

    def freeze_heap(app: Litestar) -> None:
        """Move start-up objects (torch, the model, plugins) out of the cyclic GC's view: decoding one
        keypoint submission allocates ~200k objects, and full collections over the whole heap made JSON
        parsing 4x slower (benchmarks/bench_api.py)."""
        gc.freeze()

    scoring = scoring_for(plugins, warm)
    jobs = DistributedJobs(plugins) if settings.job_engine == "procrastinate" else EmbeddedJobs(plugins, engine, warm=warm, scoring=scoring)
    flow = jobs.flow if isinstance(jobs, EmbeddedJobs) else AssessmentFlow(plugins, engine, jobs, scoring)
    tokens = TokenStore(engine)

    def provider(value):
        async def provide():
            return value

        return Provide(provide, use_cache=True)

    app = Litestar(
        route_handlers=[
            *assessments.ROUTES,
            *reviews.ROUTES,
            *monitoring.ROUTES,
            *explanations.ROUTES,
            *deliveries.ROUTES,
            baselines_routes.put_baseline,
            system.health,
            system.ready,
            system.model_card,
            system.plugin_list,
            metrics.metrics,
            *[route for route in plugins.routes if not is_ui_page(route)],
            *audit_routes.ROUTES,
            *pages.ROUTES,
            ui_router([route for route in plugins.routes if is_ui_page(route)]),
        ],
        state=State(
            {
                "tokens": tokens,
                "engine": engine,  # for plugins' UI sections (UiContext.engine)
                "scoring": scoring,
                "auth_failures": FailureThrottle(settings.auth_failure_burst, settings.auth_failure_window_s),
                "metrics_allowlist": metrics.parse_allowlist(settings.metrics_allowlist),
                "ui_sessions": SessionStore(engine, timedelta(minutes=settings.ui_session_minutes)),
                "public_https": settings.public_url.startswith("https://"),
                "ui_links": tuple(plugins.ui_links),
                "frame_ancestors": tuple(plugins.frame_ancestors),
            }
        ),
        dependencies={
            "store": provider(flow.assessments),
            "plugins": provider(plugins),
            "submissions": provider(flow.submissions),
            "deliveries": provider(flow.deliveries),
            "jobs": provider(jobs),
            "flow": provider(flow),
        },
        middleware=[request_id_middleware, metrics.metrics_middleware, DefineMiddleware(BearerTokenMiddleware, exclude_from_auth_key="exclude_from_auth")],
        guards=[role_guard, json_bodies.json_body_only],
        exception_handlers={**problems.HANDLERS, HTTPException: unrouted_error},
        request_max_body_size=(settings.max_upload_mb + 1) * 1024 * 1024,  # backstop; uploads.receive names the limit
        on_startup=[start_scoring, freeze_heap, start_jobs],
        on_shutdown=[dispose],
        logging_config=None,  # gateway.ops.log configures logging once for us and the libraries
        openapi_config=OpenAPIConfig(
            title="Pain Gateway",
            version="0.1.0",
            description="Automated pain assessment from facial landmarks. " + SYNTHETIC_DISCLAIMER,
            path=SCHEMA_PATH,
            render_plugins=pages.SCHEMA_RENDERERS,
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
            security=[{"bearer": []}],
            use_handler_docstrings=True,
        ),
        cors_config=CORSConfig(
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["Location", "Retry-After", "X-Request-ID", "Server-Timing"],
        )
        if settings.cors_origins
        else None,
    )
    document_capture_bodies(app, plugins)
    allow_every_method(app)
    app.state["error_owners"] = error_owners(app)
    app.asgi_handler = http_hygiene(app.asgi_handler, cors=bool(settings.cors_origins))
    return app


def error_owners(app: Litestar) -> dict[str, ExceptionHandlersMap]:
    """The exception handlers of each first path segment whose routes bring their own (``/fhir``: FHIR
    OperationOutcomes, ``/ui``: the UI's error page), for requests there that no route matches."""
    owners: dict[str, ExceptionHandlersMap] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            handlers = handler.resolve_exception_handlers()
            if handlers.get(HTTPException) is not unrouted_error:
                owners.setdefault(_segment(route.path), handlers)
    return owners


def _segment(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def unrouted_error(request: Request, exc: HTTPException) -> Response:
    """An HTTP error outside any route's own handlers: a 404 or 405 under ``/fhir`` or ``/ui`` (the path
    matched no route there) is answered the way that path's routes answer errors, anything else as a problem."""
    owned = request.app.state.get("error_owners", {}).get(_segment(request.url.path), {})
    handler = owned.get(exc.status_code) or next((owned[cls] for cls in type(exc).__mro__ if cls in owned), None)
    return (handler or problems.http_error)(request, exc)


def allow_every_method(app: Litestar) -> None:
    """``Allow`` on ``OPTIONS`` lists every method the path answers. Litestar 2's automatic OPTIONS
    handler reads the methods of the route it was made for; a path registered in steps (a Controller's
    handlers, several handlers at one path) keeps the first step's handler, so ``Allow`` listed only the
    first method (litestar-org/litestar#4169, fixed in 3.x). Each one now reads the methods of the route
    that serves it, less those of handlers that only answer 405 (the FHIR facade's read-only fillers)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        fn = route.route_handler_map["OPTIONS"][0].fn
        cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True))
        if fn.__name__ == "options_handler" and isinstance(getattr(cells.get("self"), "cell_contents", None), HTTPRoute):
            cells["self"].cell_contents = SimpleNamespace(methods=allowed_methods(route))


def allowed_methods(route: HTTPRoute) -> set[str]:
    """The methods ``route`` answers: those of its handlers, less handlers that only answer 405."""
    return {method for handler in route.route_handlers if handler.status_code != 405 for method in handler.http_methods}


def document_capture_bodies(app: Litestar, plugins: Plugins) -> None:
    """Routes that read a submission themselves (``opt={"capture_body": "any" | "immediate"}``) get the
    request bodies the loaded capture sources read in the OpenAPI document; ``immediate`` leaves out
    deferred (video) sources. Each app holds its own copy of a handler, so this stays per app."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            kind = handler.opt.get("capture_body")
            if kind:
                forms = [f for s in plugins.capture_sources if kind == "any" or not s.deferred for f in getattr(s, "forms", ())]
                handler.operation_class = openapi.documented(*forms, description="A clip as one of these forms")

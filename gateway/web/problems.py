"""Errors as RFC 9457 problem details, so every client gets the same machine-readable shape."""

from __future__ import annotations

import json
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import Send
from sqlalchemy.exc import OperationalError

from gateway.contract.domain import WHILE_READING, InputError, ScoringUnavailable, StorageFull, TooBusy, UnsupportedMediaError
from gateway.ops.settings import SettingsError
from gateway.web.json_bodies import unknown_field

log = structlog.get_logger(__name__)

MEDIA_TYPE = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    """An RFC 9457 problem details answer; ``detail`` names the field and the fix."""
    return Response({"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}, status_code=status, media_type=MEDIA_TYPE)


def input_error(request: Request[Any, Any, Any], exc: InputError) -> Response[dict[str, Any]]:
    if isinstance(exc, UnsupportedMediaError):
        return problem(415, "Unsupported media", exc.message, field=exc.field, instance=request.url.path)
    return problem(422, "Invalid input", exc.message, field=exc.field, instance=request.url.path)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    if isinstance(exc, ValidationException) and (unknown := unknown_field(request.scope.get("route_handler"), exc)):
        return input_error(request, unknown)
    if exc.status_code >= 500:
        log.error("server_error", path=request.url.path, error=repr(exc.__cause__ or exc), exc_info=exc)
    extra = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
    headers = dict(exc.headers or {})  # e.g. Allow on a 405
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if exc.status_code == 405 and "GET" in headers.get("allow", ""):
        headers["allow"] += ", HEAD"  # HEAD runs the GET handler (gateway.web.app.http_hygiene)
    detail = exc.detail
    if exc.status_code == 404 and request.scope.get("route_handler") is None and not request.url.path.startswith("/ui"):
        detail = f"no API path {request.url.path}; the paths are listed at /docs (OpenAPI document: /schema/openapi.json)"
    response = problem(exc.status_code, _title(exc.status_code), detail, instance=request.url.path, **extra)
    response.headers.update(headers)
    return response


def too_busy(request: Request[Any, Any, Any], exc: TooBusy) -> Response[dict[str, Any]]:
    response = problem(429, "Too many requests", str(exc), instance=request.url.path)
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


def storage_full(request: Request[Any, Any, Any], exc: StorageFull) -> Response[dict[str, Any]]:
    """A tenant over its storage quota: 413 (the client's allowance, not our fault: never a 5xx)."""
    return problem(413, "Storage quota reached", str(exc), instance=request.url.path, setting="PAIN_GATEWAY_TENANT_MAX_STORAGE_MB")


def settings_error(request: Request[Any, Any, Any], exc: SettingsError) -> Response[dict[str, Any]]:
    return problem(503, "Gateway misconfigured", str(exc), instance=request.url.path)


RETRY_AFTER_S = 2


def database_error(request: Request[Any, Any, Any], exc: OperationalError) -> Response[dict[str, Any]]:
    """SQLite still busy after its timeout: the client may retry, so 503 with Retry-After, not 500."""
    if "database is locked" not in str(exc.orig) and "database is busy" not in str(exc.orig):
        return unexpected(request, exc)
    log.warning("database_busy", path=request.url.path)
    response = problem(503, "Service Unavailable", "the database is busy; retry shortly", instance=request.url.path)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


READING_MODULES = (
    "plugins.keypoint_upload",
    "plugins.video_upload",
    "gateway.web.uploads",
    "gateway.pipeline.metadata",
    "gateway.contract.protocols",
    "litestar._kwargs",
    "litestar._signature",
    "litestar.connection",
    "msgspec",
    "json",
)
"""Where a request is read and parsed: errors raised there are the client's input, not our bug."""


def parse_error(request: Request[Any, Any, Any], exc: RecursionError | OverflowError | MemoryError) -> Response[dict[str, Any]]:
    """Nesting past the parser's depth, a number or date out of range (``9999-12-31T23:59:59-01:00``
    is past year 9999 in UTC), or an allocation a forged header asked for (a ``.npy`` claiming 10⁸
    frames), raised while reading the request: 4xx naming the problem. The same errors anywhere else
    are bugs and stay 500 with a traceback."""
    if not _raised_while_reading(exc):
        return unexpected(request, exc)
    log.info("unparseable_request", path=request.url.path, error=type(exc).__name__)
    if isinstance(exc, RecursionError):
        return problem(400, "Bad Request", "the request body is nested too deeply to parse", field="body", instance=request.url.path)
    if isinstance(exc, MemoryError):
        return problem(
            413,
            "Content Too Large",
            "the upload declares more data than the gateway can hold (e.g. an array header's shape)",
            field="body",
            instance=request.url.path,
        )
    return problem(
        422,
        "Invalid input",
        f"a value in the request is out of range ({exc}); dates must stay within years 1-9999 in UTC",
        field="body",
        instance=request.url.path,
    )


def _raised_while_reading(exc: BaseException) -> bool:
    if getattr(exc, WHILE_READING, False):
        return True
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(READING_MODULES):
            return True
        tb = tb.tb_next
    return False


async def asgi_problem(send: Send, status: int, title: str, detail: str) -> None:
    """A problem answer sent from raw ASGI middleware, outside Litestar's exception handlers."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]}
    )
    # ASGI makes more_body optional (default False); Litestar's HTTPResponseBodyEvent requires the key
    await send({"type": "http.response.body", "body": body})  # type: ignore[arg-type]


def scoring_unavailable(request: Request[Any, Any, Any], exc: ScoringUnavailable) -> Response[dict[str, Any]]:
    """No scoring process could take the submission (they kept dying): the client may retry."""
    log.warning("scoring_unavailable", path=request.url.path)
    response = problem(503, "Service Unavailable", "no scoring process could take the submission; retry shortly", instance=request.url.path)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled_error", path=request.url.path)
    return problem(500, "Internal error", "the gateway failed; the error is logged with this request's id", instance=request.url.path)


def _title(status: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(status).phrase


HANDLERS = {
    InputError: input_error,
    HTTPException: http_error,
    TooBusy: too_busy,
    StorageFull: storage_full,
    SettingsError: settings_error,
    OperationalError: database_error,
    ScoringUnavailable: scoring_unavailable,
    RecursionError: parse_error,
    OverflowError: parse_error,
    MemoryError: parse_error,
    Exception: unexpected,
}

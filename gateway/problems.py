"""Errors as RFC 9457 problem details, so every client gets the same machine-readable shape."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from gateway.domain import InputError, TooBusy, UnsupportedMediaError
from gateway.settings import SettingsError

log = structlog.get_logger(__name__)

MEDIA_TYPE = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    return Response({"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}, status_code=status, media_type=MEDIA_TYPE)


def input_error(request: Request, exc: InputError) -> Response:
    if isinstance(exc, UnsupportedMediaError):
        return problem(415, "Unsupported media", exc.message, field=exc.field, instance=request.url.path)
    return problem(422, "Invalid input", exc.message, field=exc.field, instance=request.url.path)


def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code >= 500:
        log.error("server_error", path=request.url.path, error=repr(exc.__cause__ or exc), exc_info=exc)
    extra = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    headers.update(exc.headers or {})  # e.g. Retry-After on 429
    response = problem(exc.status_code, _title(exc.status_code), exc.detail, instance=request.url.path, **extra)
    if headers:
        response.headers.update(headers)
    return response


def too_busy(request: Request, exc: TooBusy) -> Response:
    response = problem(429, "Too many requests", str(exc), instance=request.url.path)
    response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


def settings_error(request: Request, exc: SettingsError) -> Response:
    return problem(503, "Gateway misconfigured", str(exc), instance=request.url.path)


def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", path=request.url.path)
    return problem(500, "Internal error", "the gateway failed; the error is logged with this request's id", instance=request.url.path)


def _title(status: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(status).phrase


HANDLERS = {InputError: input_error, HTTPException: http_error, TooBusy: too_busy, SettingsError: settings_error, Exception: unexpected}

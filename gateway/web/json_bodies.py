"""JSON request bodies held to the same strict rules as submissions (``gateway.contract.strict``):
an unknown key in a Litestar-decoded body is refused by name, and a JSON body sent in another content
type is a 415 listing what is accepted."""

from __future__ import annotations

import re

from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.handlers.base import BaseRouteHandler

from gateway.contract.domain import InputError, UnsupportedMediaError
from gateway.contract.strict import JSON, refuse_unknown

_UNKNOWN = re.compile(r"Object contains unknown field `(.*?)`(?: - at `\$\.?([^`]*)`)?", re.DOTALL)  # a key may hold a backtick or a newline


def unknown_field(handler: BaseRouteHandler | None, exc: ValidationException) -> InputError | None:
    """The ``InputError`` for a Litestar-decoded body that has an unknown key, or None for other errors."""
    data = handler.parsed_fn_signature.parameters.get("data") if handler is not None else None
    for error in exc.extra if data is not None and isinstance(exc.extra, list) else ():
        match = _UNKNOWN.fullmatch(str(error.get("message", ""))) if isinstance(error, dict) else None
        if match and not match.group(2):  # top level: the Struct's own fields are the known keys
            try:
                refuse_unknown("", [match.group(1)], getattr(data.annotation, "__struct_fields__", ()))
            except InputError as refused:
                return refused
    return None


def json_body_only(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Guard: a handler that takes a JSON ``data`` body refuses another declared content type with 415
    (a body declared as a form, ``Body(media_type=RequestEncodingType.URL_ENCODED)``, is the UI's: left alone)."""
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None or connection.method in ("GET", "HEAD", "DELETE"):
        return
    if getattr(data.kwarg_definition, "media_type", RequestEncodingType.JSON) != RequestEncodingType.JSON:
        return
    media_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type and media_type != JSON and not media_type.endswith("+json"):
        raise UnsupportedMediaError("content-type", f"{media_type} is not accepted here; send {JSON}")

"""Structured logging: JSON off a TTY, console on one, request ids, and no patient data or secrets ever.

The redaction processor is the last line of defence: code should not log identifiers in the first
place, but if a plugin does, the value is replaced before any renderer sees it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog

REDACTED = "[redacted]"

SENSITIVE_KEYS = frozenset(
    {
        "patient",
        "patient_id",
        "patient_identifier",
        "identifier",
        "subject",
        "mrn",
        "name",
        "birthdate",
        "reference",
        "frames",
        "points",
        "landmarks",
        "keypoints",
        "image",
        "video",
        "body",
        "authorization",
        "token",
    }
)
"""Keys whose values are replaced wherever they appear in an event, at any depth."""

_PATIENT_REFERENCE = re.compile(r"Patient/[A-Za-z0-9\-.]{1,64}")

_SECRET_IN_URL = re.compile(r"(/v1/shared/[^/\s\"'?]+/)[^/\s\"'?&]+|([?&;](?:ticket|token|access_token|code|state)=)[^&\s\"']+", re.IGNORECASE)
"""Bearer capabilities carried in a URL: a share link's last segment, a live ``?ticket=``, OAuth codes.
Request lines (ours and uvicorn's WebSocket lines) keep their shape with the secret replaced."""


def _secret_free(text: str) -> str:
    return _SECRET_IN_URL.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, (Mapping, list, tuple)) and depth >= 5:
        return REDACTED  # too deep to inspect cheaply: assume the worst
    if isinstance(value, Mapping):
        return {k: REDACTED if str(k).lower() in SENSITIVE_KEYS else _scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, depth + 1) for v in value[:20]]
    if isinstance(value, str):
        return _secret_free(_PATIENT_REFERENCE.sub("Patient/" + REDACTED, value))
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # arrays: shape only, never values
        return f"<array shape={tuple(value.shape)}>"
    return value


def redact_phi(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: drop patient identifiers and landmark/image data from every event."""
    return {k: REDACTED if k.lower() in SENSITIVE_KEYS else _scrub(v) for k, v in event.items()}


def configure_logging(log_format: str = "auto", level: str = "info", stream: Any = None) -> None:
    """One format for our events and for libraries' stdlib logging (uvicorn, alembic), all redacted."""
    stream = stream or sys.stderr
    use_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    renderer = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_phi,
    ]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))  # migration chatter
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )

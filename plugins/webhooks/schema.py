"""Request and response types of ``/v1/webhook-endpoints``, with the examples the OpenAPI document shows."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from plugins.webhooks.endpoints import Attempt, Endpoint


class EndpointCreate(msgspec.Struct, forbid_unknown_fields=True):
    """``events``: one or more of ``assessment.completed``, ``assessment.failed``, ``assessment.reviewed``."""

    url: str
    events: list[str]
    description: str = ""


class EndpointOut(msgspec.Struct):
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    created_by: str | None = None

    @classmethod
    def of(cls, e: Endpoint) -> EndpointOut:
        return cls(e.id, e.url, e.events, e.description, e.enabled, e.created_at, e.updated_at, e.disabled_reason, e.created_by)


class EndpointCreated(EndpointOut, kw_only=True):
    """``secret`` (``whsec_...``) verifies our signatures; it is shown only now: store it."""

    secret: str


class EndpointList(msgspec.Struct):
    endpoints: list[EndpointOut]


class SecretRotated(msgspec.Struct):
    """The new ``secret``; the previous one also signs until ``previous_secret_expires_at``."""

    id: str
    secret: str
    previous_secret_expires_at: datetime | None


class AttemptList(msgspec.Struct):
    endpoint_id: str
    attempts: list[Attempt]


class ReplayAccepted(msgspec.Struct):
    message_id: str
    status: str


_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
_ID = "whe_3c5d2b1a9f8e4d7c"
EXAMPLE_CREATE = EndpointCreate("https://telehealth.example.org/hooks/pain", ["assessment.completed", "assessment.failed"], "visit app")
EXAMPLE_ENDPOINT = EndpointOut(_ID, EXAMPLE_CREATE.url, EXAMPLE_CREATE.events, EXAMPLE_CREATE.description, True, _AT, _AT, None, "a1b2c3d4")
EXAMPLE_CREATED = EndpointCreated(**msgspec.structs.asdict(EXAMPLE_ENDPOINT), secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
EXAMPLE_ROTATED = SecretRotated(_ID, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
EXAMPLE_ATTEMPTS = AttemptList(
    _ID,
    [
        Attempt(
            1,
            _AT,
            120.5,
            "delivered",
            "200",
            "ok",
            None,
            message_id="msg_0d9a6a70",
            delivery_id="0d9a6a70-5b0e-5d55-8a4e-0c6a5b1f8c21",
            event_type="assessment.completed",
            assessment_id="5f0c7f7e-3f7a-4b8e-9b7e-2f1d8c0a9e11",
            delivery_status="delivered",
        )
    ],
)
EXAMPLE_REPLAY = ReplayAccepted("msg_0d9a6a70", "pending")

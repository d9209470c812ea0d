"""``GET /v1/assessments``: its query checked (4xx naming the parameter), its cursor, its page's shape.

The cursor is opaque to clients (base64url of the last item's received time and id); a client follows
``links.next`` as given. A cursor that does not decode is a 422 naming ``cursor``, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

import msgspec

from gateway.contract.domain import CLINICAL_STATUSES, LEVELS, SYNTHETIC_DISCLAIMER, InputError
from gateway.storage.listing import STATUSES, Key, Listed, ListingQuery

NOTE = (
    "level is the AI's (AI-asserted by the model named in model; " + SYNTHETIC_DISCLAIMER + ") and clinician_level the reviewer's; "
    "a patient, level or clinical_status filter lists completed assessments only"
)


class AssessmentListItem(msgspec.Struct, kw_only=True, omit_defaults=False):
    """One assessment (or a video job without a result yet: ``status`` queued, extracting, scoring or failed)."""

    id: str
    status: str
    progress: int
    created_at: datetime
    links: dict[str, str]
    patient: dict[str, str] | None = None
    effective_start: datetime | None = None
    level: str | None = None
    ai_asserted: bool = False
    model: str | None = None
    clinical_status: str | None = None
    clinician_level: str | None = None
    error: str | None = None


class AssessmentPage(msgspec.Struct, kw_only=True):
    """A page of the listing, newest received first; ``links.next`` is absent on the last page."""

    items: list[AssessmentListItem]
    limit: int
    links: dict[str, str]
    note: str = NOTE


def encode_cursor(key: Key) -> str:
    moment, ident = key
    return base64.urlsafe_b64encode(json.dumps([moment.astimezone(UTC).isoformat(), ident]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    refused = InputError("cursor", "is not a cursor this gateway issued; follow links.next of the previous page as given (or leave it out for the first page)")
    try:
        moment, ident = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = datetime.fromisoformat(moment)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise refused from None
    if not isinstance(ident, str) or len(ident) > 36 or at.tzinfo is None:
        raise refused
    return at.astimezone(UTC), ident


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise InputError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def query_moment(name: str, text: str | None) -> datetime | None:
    """A query's date-time, in UTC: ISO 8601 text with a time zone and nothing else. Parsed here, not by the
    framework, whose lax query parsing also took a bare number as a Unix time (``until=0`` listed nothing
    instead of naming the mistake)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.upper())  # RFC 3339 allows a lower-case t and z
    except ValueError:
        raise InputError(name, f"must be an ISO 8601 date-time with a time zone, e.g. 2026-11-23T10:00:00Z, got {text[:40]!r}") from None
    if value.tzinfo is None:
        raise InputError(name, "needs a time zone, e.g. 2026-11-23T10:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InputError(name, "is outside the representable range once in UTC; use a year from 1 to 9998") from None


MOMENT = {"format": "date-time"}
"""The OpenAPI schema of a ``query_moment`` parameter (declared ``str``, so the framework leaves the text alone)."""


def listing_query(tenant: str, given: dict[str, str | None], since: str | None, until: str | None, limit: int) -> ListingQuery:
    """The page's filters from the query string, each checked (``given``: patient, status,
    clinical_status, level, cursor as received)."""
    system = value = None
    if (patient := given.get("patient")) is not None:
        system, _, value = patient.partition("|")
        if not system or not value:
            raise InputError("patient", "must be the patient's identifier as system|value (the | may be written %7C), e.g. urn:oid:1.2.3|MRN-1234")
    cursor = given.get("cursor")
    return ListingQuery(
        tenant=tenant,
        system=system,
        value=value,
        since=query_moment("since", since),
        until=query_moment("until", until),
        status=_choice("status", given.get("status"), STATUSES),
        clinical_status=_choice("clinical_status", given.get("clinical_status"), CLINICAL_STATUSES),
        level=_choice("level", given.get("level"), LEVELS),
        after=None if cursor is None else decode_cursor(cursor),
        limit=limit,
    )


def list_item(item: Listed, base: str) -> AssessmentListItem:
    return AssessmentListItem(
        id=item.id,
        status=item.status,
        progress=item.progress,
        created_at=item.created_at,
        links={"self": f"{base}/{item.id}"},
        patient=item.patient,
        effective_start=item.effective_start,
        level=item.level,
        ai_asserted=item.status == "completed",
        model=item.model,
        clinical_status=item.clinical_status,
        clinician_level=item.clinician_level,
        error=item.error,
    )


_AT = datetime(2026, 11, 23, 10, 0, 2, tzinfo=UTC)
_BASE = "https://gateway.example.org/v1/assessments"
EXAMPLE_PAGE = AssessmentPage(
    items=[
        AssessmentListItem(
            id="5f0c7f7e-3f7a-4b8e-9b7e-2f1d8c0a9e11",
            status="completed",
            progress=100,
            created_at=_AT,
            links={"self": f"{_BASE}/5f0c7f7e-3f7a-4b8e-9b7e-2f1d8c0a9e11"},
            patient={"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-1234"},
            effective_start=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
            level="mild",
            ai_asserted=True,
            model="sta-lstm-synthetic 0.3.0",
            clinical_status="preliminary",
        ),
        AssessmentListItem(
            id="0d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            status="failed",
            progress=20,
            created_at=datetime(2026, 11, 23, 9, 58, tzinfo=UTC),
            links={"self": f"{_BASE}/0d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"},
            error="the file holds no decodable video frames (truncated or corrupt)",
        ),
    ],
    limit=2,
    links={"self": f"{_BASE}?limit=2", "next": f"{_BASE}?limit=2&cursor=WyIyMDI2LTExLTIzVDA5OjU4OjAwKzAwOjAwIiwgIjBkMWMyYjNhIl0"},
)

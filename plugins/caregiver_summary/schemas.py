"""What the caregiver summary routes take and answer, as the OpenAPI document shows them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar.params import Parameter

from gateway import ok

Lang = Annotated[str | None, Parameter(description="Catalogue language, e.g. en or zh (default: the site's)", max_length=20)]
Format = Annotated[str | None, Parameter(description="html (default), text, sms (one short message) or pdf", max_length=10)]
Tz = Annotated[
    str | None,
    Parameter(
        description="IANA time zone of the times shown, e.g. Asia/Shanghai (default: the site's, PAIN_GATEWAY_TIMEZONE); each time says its zone", max_length=64
    ),
]


class ShareRequest(msgspec.Struct):
    """``expires_in``: 30m, 72h, 7d... (default 72 h, at most the site's ``share_max_h``)."""

    lang: Annotated[str | None, msgspec.Meta(examples=["zh"])] = None
    expires_in: Annotated[str | None, msgspec.Meta(examples=["72h"])] = None


class PatientShareRequest(ShareRequest, kw_only=True):
    """The patient by ``identifier`` (``SYSTEM|VALUE``) and the ``period`` up to now (e.g. 24h)."""

    identifier: Annotated[str, msgspec.Meta(examples=["urn:oid:1.2.36.146.595.217.0.1|MRN-1234"])]
    period: Annotated[str, msgspec.Meta(examples=["24h"])] = "24h"


class ShareLink(msgspec.Struct):
    """Open ``url`` in any browser, no account needed, until ``expires_at``; add ``?format=pdf`` for the PDF."""

    url: Annotated[str, msgspec.Meta(examples=["https://pain.example.org/v1/shared/caregiver-summary/eyJ0ZW5hbnQiOi....Zk3Q"])]
    expires_at: datetime
    lang: Annotated[str, msgspec.Meta(examples=["zh"])]


SHARE_EXAMPLE = ShareLink(
    "https://pain.example.org/v1/shared/caregiver-summary/eyJ0ZW5hbnQiOiJkZWZhdWx0Ii....Zk3Q", datetime(2026, 12, 1, 10, 0, tzinfo=UTC), "zh"
)
SUMMARY = ok(
    str,
    '<!doctype html>\n<html lang="en">...<h1>Pain check summary</h1>...',
    media_type="text/html",
    description="The summary as HTML; format=text or sms answer text/plain, format=pdf application/pdf",
)

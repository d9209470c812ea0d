"""Signed, expiring share links a caregiver opens without an account.

A link carries what it shows (an assessment, or a patient's period anchored on one of their
assessments so no identifier appears in the URL), the language, the tenant and the expiry, signed
with HMAC-SHA256 under the server's ``share_secret``. Nothing is stored: changing the secret revokes
every link at once. Altered or foreign links are refused (403), expired ones answer 410.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec

CONTEXT = b"pain-gateway caregiver-summary share v1\n"
MAX_TOKEN_CHARS = 600  # a real one is about 250: anything longer is refused before it is decoded


LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z: past it a datetime cannot hold the moment
Moment = Annotated[int, msgspec.Meta(ge=0, le=LAST_SECOND)]  # Unix seconds


class Shared(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a link shows. ``period_s`` is 0 for one assessment; else the period ends at ``end``."""

    tenant: Annotated[str, msgspec.Meta(max_length=64)]
    assessment_id: Annotated[str, msgspec.Meta(max_length=64)]
    lang: Annotated[str, msgspec.Meta(max_length=16)]
    expires: Moment
    period_s: Annotated[int, msgspec.Meta(ge=0, le=LAST_SECOND)] = 0
    end: Moment = 0


class LinkRefused(Exception):
    """``status`` 403 (not a link of ours, or altered) or 410 (expired); ``message`` says which and what to do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), CONTEXT + payload, hashlib.sha256).digest()


def sign(shared: Shared, secret: str) -> str:
    payload = msgspec.json.encode(shared)
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def verify(token: str, secret: str, now: datetime | None = None) -> Shared:
    """The link's content, or ``LinkRefused``; the signature is checked before anything is decoded."""
    forged = LinkRefused(403, "this link is not valid: it was changed or did not come from this gateway; ask the care team for a new link")
    if not secret or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise forged
    body, mac = token.split(".")
    try:
        payload, signature = _unb64(body), _unb64(mac)
    except ValueError:
        raise forged from None
    if not hmac.compare_digest(signature, _mac(secret, payload)):
        raise forged
    try:  # signed by us yet not what we sign (an old format, a bug, a leaked secret): refused the same way
        shared = msgspec.json.decode(payload, type=Shared)
    except msgspec.DecodeError:  # not JSON, wrong types, out of range, an unknown field
        raise forged from None
    moment = now or datetime.now(UTC)
    if moment.timestamp() >= shared.expires:
        expired = datetime.fromtimestamp(shared.expires, UTC)
        raise LinkRefused(410, f"this link expired at {expired:%Y-%m-%d %H:%M} UTC; ask the care team for a new link")
    return shared


def expiry(now: datetime, lifetime: timedelta) -> int:
    return int((now + lifetime).timestamp())

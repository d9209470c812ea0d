"""Standard Webhooks symmetric signatures (HMAC-SHA256, ``v1,<base64>``) and ``whsec_`` secrets.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}`` over exactly the bytes sent, so a
receiver can verify with any Standard Webhooks library. Several secrets sign one message during a
rotation: receivers accept when any ``v1`` signature matches, so they can switch secrets at their pace.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24-64 random bytes


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of the message with one secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode("ascii")


def signature_header(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per active secret, space separated."""
    if not secrets_:
        raise ValueError("at least one secret is needed to sign a webhook")
    return " ".join(signature(s, message_id, timestamp, body) for s in secrets_)


def signed_headers(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_, message_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": "PainGateway-Webhooks/1",
    }

"""Trusting CDS clients (CDS Hooks 2.0): every call carries ``Authorization: Bearer <JWT>`` signed by
the EMR. The ``iss`` must be allow-listed, the key pinned for it (or served from an allow-listed
``jku``), the algorithm ES384 or RS384 (never ``none`` or HMAC), ``aud`` the exact URL called, ``exp``
in the future, and the ``jti`` never seen before from that issuer. joserfc does the JOSE work.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import client_context
from plugins.cds_hooks.settings import ALGORITHMS, CdsClient, CdsHooksSettings
from plugins.cds_hooks.tables import SeenJwtRow

MAX_JWT = 8192
MAX_LIFETIME_S = 3600
MAX_JWKS = 100_000
"""A JWKS larger than this is refused unread (a handful of keys is a few kB)."""


async def bounded_get(http: httpx.AsyncClient, url: str, headers: dict[str, str], limit: int, total_s: float) -> tuple[int, bytes]:
    """GET ``url``: its status and at most ``limit`` bytes of body, within ``total_s`` seconds in all (httpx's
    timeout bounds each read, not a server that drips bytes); ``ValueError`` past either bound."""
    async with asyncio.timeout(total_s), http.stream("GET", url, headers=headers) as response:
        if int(response.headers.get("content-length") or 0) > limit:
            raise ValueError(f"larger than {limit} bytes")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                raise ValueError(f"larger than {limit} bytes")
        return response.status_code, bytes(body)


class Refused(Exception):
    """A call that is not answered: ``status`` and a message naming what was wrong (and the fix)."""

    def __init__(self, status: int, what: str, detail: str) -> None:
        super().__init__(f"{what}: {detail}")
        self.status, self.what, self.detail = status, what, detail


@dataclass(frozen=True)
class Caller:
    client: CdsClient
    jti: str


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before the signature is checked: only to find the issuer and its key."""
    try:
        compact = jws.extract_compact(token.encode())
        claims = msgspec.json.decode(compact.payload)
    except (JoseError, ValueError, msgspec.DecodeError):
        raise Refused(401, "Authorization", "the bearer token is not a compact JWT (header.payload.signature)") from None
    if not isinstance(claims, dict):
        raise Refused(401, "Authorization", "the JWT's payload is not a JSON object")
    return dict(compact.protected), claims


class Verifier:
    def __init__(self, config: CdsHooksSettings, engine: AsyncEngine) -> None:
        self.config, self.engine = config, engine
        self._jku: dict[str, tuple[float, KeySet]] = {}

    async def keys(self, client: CdsClient, header: dict[str, Any]) -> KeySet:
        pinned = client.pinned()
        kid = header.get("kid")
        if pinned is not None and (kid is None or any(key.kid == kid for key in pinned.keys)):
            return pinned
        jku = header.get("jku")
        if not isinstance(jku, str) or jku not in client.jku_allowlist:
            raise Refused(401, "Authorization", f"the JWT's key (kid {str(kid)[:80]!r}) is not pinned for {client.iss} and its jku is not allow-listed")
        cached = self._jku.get(jku)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            async with httpx.AsyncClient(timeout=self.config.http_timeout_s, follow_redirects=False, verify=client_context()) as http:
                status, raw = await bounded_get(http, jku, {"Accept": "application/json"}, MAX_JWKS, 2 * self.config.http_timeout_s)
            if status != 200:
                raise ValueError(status)
            keys = KeySet.import_key_set(msgspec.json.decode(raw))
        except Exception:
            raise Refused(401, "Authorization", f"the JWKS at the allow-listed jku {jku} cannot be read") from None
        self._jku[jku] = (time.monotonic() + 300, keys)
        return keys

    async def verify(self, authorization: str | None, audience: str) -> Caller:
        """The calling client, once its JWT passes every check; ``Refused`` naming the first that fails."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(401, "Authorization", "a CDS client must send 'Authorization: Bearer <JWT>' signed with its key (CDS Hooks 2.0)")
        token = token.strip()
        if len(token) > MAX_JWT:
            raise Refused(401, "Authorization", f"the JWT is longer than {MAX_JWT} characters")
        header, unverified = _unverified(token)
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Refused(401, "alg", f"{str(alg)[:20]!r} is not accepted; sign with {' or '.join(ALGORITHMS)} (never none or HMAC)")
        client = self.config.client(str(unverified.get("iss", "")))
        if client is None:
            raise Refused(401, "iss", f"{str(unverified.get('iss'))[:200]!r} is not a CDS client allowed here ([[plugins.cds_hooks.clients]])")
        keys = await self.keys(client, header)

        def key_for(obj: Any) -> Any:
            kid = obj.headers().get("kid")
            kind = "EC" if str(alg).startswith("ES") else "RSA"
            found = [key for key in keys.keys if key.key_type == kind and (kid is None or key.kid == kid)]
            if len(found) != 1:
                raise Refused(401, "Authorization", f"no single {kind} key of {client.iss} has kid {str(kid)[:80]!r}")
            return found[0]

        try:
            claims = jwt.decode(token, key_for, algorithms=list(ALGORITHMS)).claims
        except Refused:
            raise
        except (JoseError, ValueError):
            raise Refused(401, "Authorization", f"the JWT's signature does not verify with the keys of {client.iss}") from None
        return await self.checked_claims(client, claims, audience)

    async def checked_claims(self, client: CdsClient, claims: dict[str, Any], audience: str) -> Caller:
        now, leeway = time.time(), self.config.leeway_s
        aud = claims.get("aud")
        if audience not in (aud if isinstance(aud, list) else [aud]):
            raise Refused(401, "aud", f"the JWT is addressed to {str(aud)[:200]!r}, not to this service's URL {audience}")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or exp + leeway < now:
            raise Refused(401, "exp", "the JWT has expired or carries no exp; sign a new one for each call")
        if not isinstance(iat, int | float) or iat - leeway > now or exp - iat > MAX_LIFETIME_S:
            raise Refused(401, "iat", f"the JWT's iat is missing, in the future, or more than {MAX_LIFETIME_S} s before its exp")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= 200:
            raise Refused(401, "jti", "the JWT carries no jti (a unique id per call, so that a replay can be refused)")
        key = hashlib.sha256(f"{client.iss}\n{jti}".encode()).hexdigest()
        now_at = datetime.now(UTC)
        try:
            async with self.engine.begin() as connection:
                await connection.execute(delete(SeenJwtRow).where(SeenJwtRow.expires_at < now_at - timedelta(seconds=leeway)))
                await connection.execute(insert(SeenJwtRow).values(key=key, expires_at=datetime.fromtimestamp(exp, UTC)))
        except IntegrityError:
            raise Refused(401, "jti", "this JWT was already used (a replay); sign a new one, with a new jti, for each call") from None
        return Caller(client, jti)

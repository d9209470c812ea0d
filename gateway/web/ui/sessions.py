"""Server-side review UI sessions, opened with a bearer token and carried by a cookie.

The cookie holds a random secret; the table keeps only its SHA-256 (like API tokens), the tenant, the
token it was opened with and the session's CSRF token. A session is usable while it has not expired
and its token is still usable: revoking or expiring the token ends every session opened with it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from gateway.storage.engine import as_utc
from gateway.storage.tables import TokenRow, UISessionRow
from gateway.storage.tokens import TokenInfo, token_info


@dataclass(frozen=True)
class UISession:
    token: TokenInfo
    csrf: str
    expires_at: datetime


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SessionStore:
    def __init__(self, engine: AsyncEngine, lifetime: timedelta, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine, self.lifetime, self.clock = engine, lifetime, clock
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def open(self, token: TokenInfo, lifetime: timedelta | None = None) -> tuple[str, UISession]:
        """A new session for ``token``: the cookie secret (shown once) and the session; it lasts
        ``lifetime`` (an EMR launch: its access token's), else the configured sign-in lifetime."""
        secret, now = secrets.token_urlsafe(32), self.clock()
        session = UISession(token, secrets.token_urlsafe(32), now + (lifetime or self.lifetime))
        async with self.engine.begin() as connection:
            await connection.execute(delete(UISessionRow).where(UISessionRow.expires_at <= now))  # sweep the expired
            await connection.execute(
                UISessionRow.__table__.insert().values(
                    id_hash=_hash(secret), tenant=token.tenant, token_id=token.id, csrf=session.csrf, created_at=now, expires_at=session.expires_at
                )
            )
        return secret, session

    async def get(self, secret: str) -> UISession | None:
        """The session, while neither it nor its token has expired and the token is not revoked."""
        if not secret or len(secret) > 100:
            return None
        async with self.sessions() as orm:
            found = (
                await orm.execute(
                    select(UISessionRow, TokenRow)
                    .join(TokenRow, TokenRow.id == UISessionRow.token_id)
                    .where(UISessionRow.id_hash == _hash(secret), TokenRow.tenant == UISessionRow.tenant)
                )
            ).first()
        if found is None:
            return None
        row, token = found[0], token_info(found[1])
        now, expires_at = self.clock(), as_utc(row.expires_at)
        if expires_at <= now or (token.revoked_at is not None and token.revoked_at <= now) or (token.expires_at is not None and token.expires_at <= now):
            return None
        return UISession(token, row.csrf, expires_at)

    async def close(self, secret: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(delete(UISessionRow).where(UISessionRow.id_hash == _hash(secret)))

"""Launches under way: ``state`` (CSRF of the redirect), the PKCE verifier and the OpenID nonce, kept
server-side between the redirect to the EMR and its callback, and usable by one callback only."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from plugins.smart_launch.tables import LaunchStateRow


@dataclass(frozen=True)
class Pending:
    iss: str
    code_verifier: str
    nonce: str


class StateRefused(Exception):
    """The callback's ``state`` is unknown, spent or too old; the message says which."""


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class LaunchStates:
    def __init__(self, engine: AsyncEngine, ttl: timedelta) -> None:
        self.engine, self.ttl = engine, ttl

    async def begin(self, iss: str) -> tuple[str, Pending]:
        """A new launch: its ``state`` (sent to the EMR; 256 bits) and what the callback will need."""
        state, now = secrets.token_urlsafe(32), datetime.now(UTC)
        pending = Pending(iss, secrets.token_urlsafe(64), secrets.token_urlsafe(32))
        async with self.engine.begin() as connection:
            await connection.execute(delete(LaunchStateRow).where(LaunchStateRow.created_at < now - 2 * self.ttl))  # sweep
            await connection.execute(
                insert(LaunchStateRow).values(
                    state_hash=_hash(state), iss=iss, code_verifier=pending.code_verifier, nonce=pending.nonce, created_at=now, used_at=None
                )
            )
        return state, pending

    async def take(self, state: str) -> Pending:
        """The launch ``state`` belongs to, spent by this call; ``StateRefused`` saying why not."""
        if not state or len(state) > 200:
            raise StateRefused("the callback carries no state parameter; start the launch again from the EMR")
        now, key = datetime.now(UTC), _hash(state)
        async with self.engine.begin() as connection:
            row = (await connection.execute(select(LaunchStateRow).where(LaunchStateRow.state_hash == key))).first()
            if row is None:
                raise StateRefused("the state parameter matches no launch started here (a forged or mixed-up callback); start the launch again from the EMR")
            claimed = cast(
                "CursorResult[Any]",
                await connection.execute(update(LaunchStateRow).where(LaunchStateRow.state_hash == key, LaunchStateRow.used_at.is_(None)).values(used_at=now)),
            )
        if claimed.rowcount != 1:
            raise StateRefused("this launch's code was already used (a replayed callback); start the launch again from the EMR")
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        if now - created > self.ttl:
            raise StateRefused(f"the launch took longer than {int(self.ttl.total_seconds())} s to come back; start it again from the EMR")
        return Pending(row.iss, row.code_verifier, row.nonce)

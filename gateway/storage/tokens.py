"""Bearer tokens: created once and shown once, stored as their SHA-256, revoked, rotated, expired."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from gateway.contract.domain import DEFAULT_TENANT, InputError
from gateway.storage.engine import as_utc, read_only
from gateway.storage.tables import TokenRow

ROLES = ("integrator", "telehealth", "clinician", "admin")
"""The roles a token holds; a route says which may call it with ``opt={"roles": {...}}`` (admin always may)."""

TENANT_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
CLINICIAN_REFERENCE = re.compile(r"(Practitioner|PractitionerRole)/[A-Za-z0-9.-]{1,64}")
"""A token named like this stands for the EMR's clinician of a SMART launch (``fhirUser``): reviews made
with it name that Practitioner in FHIR (``Provenance.agent.who``). Only ``create(..., clinician=True)``,
called for a verified launch, may use such a name, so no administrator's token can pose as one."""


@dataclass(frozen=True)
class TokenInfo:
    """Who is calling: ``request.user`` in a route handler (``tenant`` scopes every query, ``role`` the routes)."""

    id: str
    name: str
    role: str
    tenant: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None


MAX_TOKEN_LIFETIME = timedelta(days=730)
MAX_ROTATION_GRACE = timedelta(days=30)


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of presenting a secret: ``info`` when usable, else why not (and whose token it was)."""

    state: str  # ok | unknown | revoked | expired
    info: TokenInfo | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Bearer tokens are shown once at creation; only their SHA-256 is stored."""

    PREFIX = "pgw_"

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.reads = async_sessionmaker(read_only(engine), expire_on_commit=False)
        self.clock = clock  # injectable so tests can move time past an expiry or a grace period

    async def create(
        self, name: str, role: str, tenant: str = DEFAULT_TENANT, expires_in: timedelta | None = None, *, clinician: bool = False
    ) -> tuple[TokenInfo, str]:
        if CLINICIAN_REFERENCE.fullmatch(name.strip()) and not clinician:
            raise InputError("name", "names like Practitioner/<id> are kept for clinicians of a SMART launch; name the token after its user or system")
        if role not in ROLES:
            raise InputError("role", f"must be one of {', '.join(ROLES)}, got {role!r}")
        if not name.strip():
            raise InputError("name", "must say who or what uses the token, e.g. 'epic-interface'")
        if not TENANT_NAME.fullmatch(tenant):
            raise InputError("tenant", f"must be 1 to 64 letters, digits, '.', '_' or '-', e.g. 'st-marys', got {tenant!r}")
        if expires_in is not None and not timedelta(0) < expires_in <= MAX_TOKEN_LIFETIME:
            raise InputError("expires_in", f"must be more than 0 and at most {MAX_TOKEN_LIFETIME.days} days")
        secret = self.PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        row = TokenRow(
            id=secrets.token_hex(8),
            name=name.strip(),
            role=role,
            tenant=tenant,
            token_hash=hash_token(secret),
            created_at=now,
            expires_at=None if expires_in is None else now + expires_in,
        )
        async with self.sessions() as session:
            session.add(row)
            await session.commit()
        return token_info(row), secret

    async def verify(self, secret: str) -> TokenInfo | None:
        """The token's identity when it is usable now (known, not revoked, not expired)."""
        checked = await self.check(secret)
        return checked.info if checked.state == "ok" else None

    async def check(self, secret: str) -> TokenCheck:
        """Look the secret up by its SHA-256 (no timing leak) and say why it is refused, if it is.

        A revocation may lie in the future (a rotation's grace period): until then the token works.
        """
        async with self.reads() as session:
            row = await session.scalar(select(TokenRow).where(TokenRow.token_hash == hash_token(secret)))
        if row is None:
            return TokenCheck("unknown")
        info, now = token_info(row), self.clock()
        if info.revoked_at is not None and info.revoked_at <= now:
            return TokenCheck("revoked", info)
        if info.expires_at is not None and info.expires_at <= now:
            return TokenCheck("expired", info)
        return TokenCheck("ok", info)

    async def revoke(self, token_id: str) -> bool:
        now = self.clock()
        async with self.sessions() as session:
            result = cast(
                "CursorResult[Any]",
                await session.execute(  # an UPDATE's result is a CursorResult: it has rowcount
                    update(TokenRow).where(TokenRow.id == token_id, _not_revoked(now)).values(revoked_at=now)
                ),
            )
            await session.commit()
        return result.rowcount == 1

    async def rotate(self, token_id: str, expires_in: timedelta | None = None, grace: timedelta = timedelta(0)) -> tuple[TokenInfo, str] | None:
        """A new secret for the same name, role and tenant; the old one is revoked after ``grace``.

        Without ``expires_in`` the new token gets the old one's lifetime, so rotating never silently
        turns an expiring token into a permanent one. An expired token may be rotated (that is how its
        holder gets a new one); a revoked or already rotated one may not. None when there is no such
        token. Both writes share one transaction: a concurrent rotation of the same token loses.
        """
        if expires_in is not None and not timedelta(0) < expires_in <= MAX_TOKEN_LIFETIME:
            raise InputError("expires_in", f"must be more than 0 and at most {MAX_TOKEN_LIFETIME.days} days")
        if not timedelta(0) <= grace <= MAX_ROTATION_GRACE:
            raise InputError("grace", f"must be 0 to {MAX_ROTATION_GRACE.days} days")
        now = self.clock()
        async with self.sessions() as session:
            old = await session.scalar(select(TokenRow).where(TokenRow.id == token_id, TokenRow.revoked_at.is_(None)))
            if old is None:
                return None
            if expires_in is None and old.expires_at is not None:
                expires_in = as_utc(old.expires_at) - as_utc(old.created_at)
            claimed = cast(
                "CursorResult[Any]",
                await session.execute(update(TokenRow).where(TokenRow.id == token_id, TokenRow.revoked_at.is_(None)).values(revoked_at=now + grace)),
            )
            if claimed.rowcount != 1:
                await session.rollback()
                return None
            secret = self.PREFIX + secrets.token_urlsafe(32)
            inherited = {
                c.key: getattr(old, c.key) for c in TokenRow.__table__.columns if c.key not in {"id", "token_hash", "created_at", "revoked_at", "expires_at"}
            }  # name, role, tenant...
            row = TokenRow(
                **inherited, id=secrets.token_hex(8), token_hash=hash_token(secret), created_at=now, expires_at=None if expires_in is None else now + expires_in
            )
            session.add(row)
            await session.commit()
        return token_info(row), secret

    async def list(self) -> list[TokenInfo]:
        async with self.sessions() as session:
            rows = await session.scalars(select(TokenRow).order_by(TokenRow.created_at))
            return [token_info(r) for r in rows]


def _not_revoked(now: datetime) -> ColumnElement[bool]:
    """Not revoked yet: never, or only at a future moment (a rotation's grace period)."""
    return or_(TokenRow.revoked_at.is_(None), TokenRow.revoked_at > now)


def token_info(row: TokenRow) -> TokenInfo:
    return TokenInfo(row.id, row.name, row.role, row.tenant, as_utc(row.created_at), as_utc(row.revoked_at), expires_at=as_utc(row.expires_at))

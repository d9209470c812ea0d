"""Assessment and token persistence behind small async interfaces.

An assessment is written in one transaction with whatever the caller adds to it (its event and
deliveries, the submission's completion): a failure leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from gateway.contract.domain import DEFAULT_TENANT, Assessment, InputError
from gateway.storage.engine import read_only
from gateway.storage.tables import AssessmentAliasRow, AssessmentRow, ReviewRow, TokenRow

ROLES = ("integrator", "telehealth", "clinician", "admin")
TENANT_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")

AfterWrite = Callable[[AsyncConnection], Awaitable[None]]

PeriodBound = tuple[Literal["start", "end"], Literal["<", "<=", ">", ">="], datetime]
"""One comparison of the effective period's start or end with a moment."""

_COMPARE = {"<": lambda c, v: c < v, "<=": lambda c, v: c <= v, ">": lambda c, v: c > v, ">=": lambda c, v: c >= v}


@dataclass(frozen=True)
class AssessmentQuery:
    """Search criteria; every given criterion must match."""

    tenant: str
    assessment_id: str | None = None
    reference: str | None = None
    system: str | None = None
    value: str | None = None
    level: str | None = None  # the AI's clip level
    clinical_status: str | None = None  # preliminary (not reviewed yet), final or amended
    start_from: datetime | None = None  # inclusive lower bound on the effective start
    start_before: datetime | None = None  # exclusive upper bound
    # Each clause is a disjunction of comparisons; every clause must hold (range searches need both ends).
    period: tuple[tuple[PeriodBound, ...], ...] = ()
    oldest_first: bool = False
    limit: int = 50
    offset: int = 0


def _with_review():
    """Assessments joined to their latest review (the one that produced the current clinical version)."""
    latest = and_(ReviewRow.assessment_id == AssessmentRow.id, ReviewRow.version == AssessmentRow.clinical_version)
    return (select(AssessmentRow.document, AssessmentRow.clinical_status, AssessmentRow.clinical_version, AssessmentRow.clinician_level,
                   ReviewRow.reviewer, ReviewRow.reviewed_at).select_from(AssessmentRow).outerjoin(ReviewRow, latest))


def _assessment(row) -> Assessment:
    """The stored AI result with its current clinical status laid over it (the document is never rewritten)."""
    document, status, version, level, reviewer, reviewed_at = row
    return msgspec.convert({**document, "status": "completed", "clinical_status": status, "clinical_version": version,
                            "clinician_level": level, "reviewed_by": reviewer,
                            "reviewed_at": _utc(reviewed_at).isoformat() if reviewed_at else None}, Assessment)


class AssessmentStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.reads = async_sessionmaker(read_only(engine), expire_on_commit=False)

    async def add(self, a: Assessment, then: AfterWrite | None = None) -> bool:
        """Store an assessment; False when the same assessment already exists.

        ``then(connection)`` runs inside the same transaction (to record its event and deliveries and
        complete its submission, atomically).
        """
        async with self.sessions() as session:
            if await session.get(AssessmentRow, a.id) is not None:
                return False
            session.add(
                AssessmentRow(
                    id=a.id,
                    tenant=a.tenant,
                    patient_system=a.patient.system,
                    patient_value=a.patient.value,
                    patient_reference=a.patient.reference,
                    effective_start=a.effective_start,
                    effective_end=a.effective_end,
                    created_at=a.created_at,
                    model_id=a.model.model_id,
                    model_version=a.model.version,
                    level=a.summary.level,
                    status=a.status,
                    document=msgspec.to_builtins(a),
                )
            )
            try:
                await session.flush()
                if then is not None:
                    await then(await session.connection())
                await session.commit()
            except IntegrityError:  # a concurrent identical submission won the race
                await session.rollback()
                return False
        return True

    async def get(self, assessment_id: str, tenant: str | None = None) -> Assessment | None:
        """The assessment; with ``tenant``, only if it belongs to that tenant (callers' reads always pass it)."""
        conditions = [AssessmentRow.id == assessment_id] + ([] if tenant is None else [AssessmentRow.tenant == tenant])
        async with self.reads() as session:
            row = (await session.execute(_with_review().where(*conditions))).first()
        return None if row is None else _assessment(row)

    async def search(self, query: AssessmentQuery) -> tuple[list[Assessment], int]:
        """Matching assessments, most recent clip first, plus the total count before paging."""
        columns = {
            AssessmentRow.tenant: query.tenant,
            AssessmentRow.id: query.assessment_id,
            AssessmentRow.patient_reference: query.reference,
            AssessmentRow.patient_system: query.system,
            AssessmentRow.patient_value: query.value,
            AssessmentRow.level: query.level,
            AssessmentRow.clinical_status: query.clinical_status,
        }
        conditions = [column == value for column, value in columns.items() if value is not None]
        if query.start_from is not None:
            conditions.append(AssessmentRow.effective_start >= query.start_from)
        if query.start_before is not None:
            conditions.append(AssessmentRow.effective_start < query.start_before)
        ends = {"start": AssessmentRow.effective_start, "end": AssessmentRow.effective_end}
        for clause in query.period:
            conditions.append(or_(*(_COMPARE[op](ends[end], moment) for end, op, moment in clause)))
        order = AssessmentRow.effective_start.asc() if query.oldest_first else AssessmentRow.effective_start.desc()
        async with self.reads() as session:
            total = await session.scalar(select(func.count()).select_from(AssessmentRow).where(*conditions))
            if query.limit == 0:  # a count only
                return [], int(total or 0)
            rows = await session.execute(_with_review().where(*conditions).order_by(order, AssessmentRow.id).limit(query.limit).offset(query.offset))
            return [_assessment(r) for r in rows], int(total or 0)

    async def by_alias(self, tenant: str, scope: str, kind: str, alias: str) -> Assessment | None:
        """The assessment an output published as ``alias`` within ``tenant`` (an indexed primary-key lookup)."""
        async with self.sessions() as session:
            row = (await session.execute(
                _with_review()
                .join(AssessmentAliasRow, AssessmentAliasRow.assessment_id == AssessmentRow.id)
                .where(AssessmentAliasRow.tenant == tenant, AssessmentAliasRow.scope == scope,
                       AssessmentAliasRow.kind == kind, AssessmentAliasRow.alias == alias, AssessmentRow.tenant == tenant)
                .limit(1)
            )).first()
        return None if row is None else _assessment(row)

    async def unaliased(self, tenant: str, scope: str, kind: str, limit: int = 500) -> list[Assessment]:
        """Assessments of ``tenant`` with no ``kind`` alias in ``scope`` yet: what an output still has to index."""
        indexed = exists().where(AssessmentAliasRow.assessment_id == AssessmentRow.id, AssessmentAliasRow.tenant == tenant,
                                 AssessmentAliasRow.scope == scope, AssessmentAliasRow.kind == kind)
        async with self.sessions() as session:
            rows = await session.execute(_with_review().where(and_(AssessmentRow.tenant == tenant, ~indexed)).order_by(AssessmentRow.id).limit(limit))
            return [_assessment(r) for r in rows]

    async def add_aliases(self, scope: str, aliases: list[tuple[Assessment, str, str]]) -> None:
        """Record ``(assessment, kind, alias)`` names; an alias already recorded keeps its first assessment."""
        if not aliases:
            return
        rows = [{"tenant": a.tenant, "scope": scope, "kind": kind, "alias": alias, "assessment_id": a.id} for a, kind, alias in aliases]
        insert = postgresql_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        async with self.engine.begin() as connection:
            await connection.execute(insert(AssessmentAliasRow).values(rows).on_conflict_do_nothing())

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(select(1))


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    role: str
    tenant: str
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None


MAX_TOKEN_LIFETIME = timedelta(days=730)
MAX_ROTATION_GRACE = timedelta(days=30)
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str, field: str, maximum: timedelta, allow_zero: bool = False) -> timedelta:
    """``90d``, ``24h``, ``30m``: bounded, so a typo cannot mint a token that lives for centuries."""
    match = _DURATION.match(text or "")
    if match is None:
        raise InputError(field, f"must be a number of days, hours or minutes such as 90d, 24h or 30m, got {text!r}")
    value = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if value > maximum or (value <= timedelta(0) and not allow_zero):
        raise InputError(field, f"must be {'0' if allow_zero else 'more than 0'} to {maximum.days} days, got {text!r}")
    return value


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of presenting a secret: ``info`` when usable, else why not (and whose token it was)."""

    state: str  # ok | unknown | revoked | expired
    info: TokenInfo | None = None


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes for timezone-aware columns; they were stored as UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


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

    async def create(self, name: str, role: str, tenant: str = DEFAULT_TENANT, expires_in: timedelta | None = None) -> tuple[TokenInfo, str]:
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
        row = TokenRow(id=secrets.token_hex(8), name=name.strip(), role=role, tenant=tenant, token_hash=hash_token(secret), created_at=now,
                       expires_at=None if expires_in is None else now + expires_in)
        async with self.sessions() as session:
            session.add(row)
            await session.commit()
        return _info(row), secret

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
        info, now = _info(row), self.clock()
        if info.revoked_at is not None and info.revoked_at <= now:
            return TokenCheck("revoked", info)
        if info.expires_at is not None and info.expires_at <= now:
            return TokenCheck("expired", info)
        return TokenCheck("ok", info)

    async def revoke(self, token_id: str) -> bool:
        now = self.clock()
        async with self.sessions() as session:
            result = await session.execute(
                update(TokenRow).where(TokenRow.id == token_id, _not_revoked(now)).values(revoked_at=now)
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
                expires_in = _utc(old.expires_at) - _utc(old.created_at)
            claimed = await session.execute(
                update(TokenRow).where(TokenRow.id == token_id, TokenRow.revoked_at.is_(None)).values(revoked_at=now + grace)
            )
            if claimed.rowcount != 1:
                await session.rollback()
                return None
            secret = self.PREFIX + secrets.token_urlsafe(32)
            inherited = {c.key: getattr(old, c.key) for c in TokenRow.__table__.columns
                         if c.key not in {"id", "token_hash", "created_at", "revoked_at", "expires_at"}}  # name, role, tenant...
            row = TokenRow(**inherited, id=secrets.token_hex(8), token_hash=hash_token(secret), created_at=now,
                           expires_at=None if expires_in is None else now + expires_in)
            session.add(row)
            await session.commit()
        return _info(row), secret

    async def list(self) -> list[TokenInfo]:
        async with self.sessions() as session:
            rows = await session.scalars(select(TokenRow).order_by(TokenRow.created_at))
            return [_info(r) for r in rows]


def _not_revoked(now: datetime):
    """Not revoked yet: never, or only at a future moment (a rotation's grace period)."""
    return or_(TokenRow.revoked_at.is_(None), TokenRow.revoked_at > now)


def _info(row: TokenRow) -> TokenInfo:
    return TokenInfo(row.id, row.name, row.role, row.tenant, _utc(row.created_at), _utc(row.revoked_at), expires_at=_utc(row.expires_at))

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
from datetime import UTC, datetime

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from gateway.db.tables import AssessmentRow, TokenRow
from gateway.domain import DEFAULT_TENANT, Assessment, InputError

ROLES = ("integrator", "telehealth", "clinician", "admin")
TENANT_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")

AfterWrite = Callable[[AsyncConnection], Awaitable[None]]


@dataclass(frozen=True)
class AssessmentQuery:
    """Search criteria; every given criterion must match."""

    tenant: str
    assessment_id: str | None = None
    reference: str | None = None
    system: str | None = None
    value: str | None = None
    start_from: datetime | None = None  # inclusive lower bound on the effective start
    start_before: datetime | None = None  # exclusive upper bound
    limit: int = 50
    offset: int = 0


class AssessmentStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

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
        async with self.sessions() as session:
            row = await session.get(AssessmentRow, assessment_id)
        if row is None or tenant not in (None, row.tenant):
            return None
        return msgspec.convert(row.document, Assessment)

    async def search(self, query: AssessmentQuery) -> tuple[list[Assessment], int]:
        """Matching assessments, most recent clip first, plus the total count before paging."""
        columns = {
            AssessmentRow.tenant: query.tenant,
            AssessmentRow.id: query.assessment_id,
            AssessmentRow.patient_reference: query.reference,
            AssessmentRow.patient_system: query.system,
            AssessmentRow.patient_value: query.value,
        }
        conditions = [column == value for column, value in columns.items() if value is not None]
        if query.start_from is not None:
            conditions.append(AssessmentRow.effective_start >= query.start_from)
        if query.start_before is not None:
            conditions.append(AssessmentRow.effective_start < query.start_before)
        async with self.sessions() as session:
            total = await session.scalar(select(func.count()).select_from(AssessmentRow).where(*conditions))
            documents = await session.scalars(
                select(AssessmentRow.document)
                .where(*conditions)
                .order_by(AssessmentRow.effective_start.desc(), AssessmentRow.id)
                .limit(query.limit)
                .offset(query.offset)
            )
            return [msgspec.convert(d, Assessment) for d in documents], int(total or 0)

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


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Bearer tokens are shown once at creation; only their SHA-256 is stored."""

    PREFIX = "pgw_"

    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def create(self, name: str, role: str, tenant: str = DEFAULT_TENANT) -> tuple[TokenInfo, str]:
        if role not in ROLES:
            raise InputError("role", f"must be one of {', '.join(ROLES)}, got {role!r}")
        if not name.strip():
            raise InputError("name", "must say who or what uses the token, e.g. 'epic-interface'")
        if not TENANT_NAME.fullmatch(tenant):
            raise InputError("tenant", f"must be 1 to 64 letters, digits, '.', '_' or '-', e.g. 'st-marys', got {tenant!r}")
        secret = self.PREFIX + secrets.token_urlsafe(32)
        row = TokenRow(id=secrets.token_hex(8), name=name.strip(), role=role, tenant=tenant, token_hash=hash_token(secret),
                       created_at=datetime.now(UTC))
        async with self.sessions() as session:
            session.add(row)
            await session.commit()
        return _info(row), secret

    async def verify(self, secret: str) -> TokenInfo | None:
        async with self.sessions() as session:
            row = await session.scalar(select(TokenRow).where(TokenRow.token_hash == hash_token(secret), TokenRow.revoked_at.is_(None)))
        return None if row is None else _info(row)

    async def revoke(self, token_id: str) -> bool:
        async with self.sessions() as session:
            result = await session.execute(
                update(TokenRow).where(TokenRow.id == token_id, TokenRow.revoked_at.is_(None)).values(revoked_at=datetime.now(UTC))
            )
            await session.commit()
        return result.rowcount == 1

    async def list(self) -> list[TokenInfo]:
        async with self.sessions() as session:
            rows = await session.scalars(select(TokenRow).order_by(TokenRow.created_at))
            return [_info(r) for r in rows]


def _info(row: TokenRow) -> TokenInfo:
    return TokenInfo(row.id, row.name, row.role, row.tenant, row.created_at, row.revoked_at)

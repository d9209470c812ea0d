"""Assessment and token persistence behind small async interfaces.

An assessment and its outputs (rendered, or pending rows for delivery jobs) are written in one
transaction: a failure leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from gateway.db.tables import AssessmentRow, OutputRow, TokenRow
from gateway.domain import Assessment, InputError, OutputDocument
from gateway.scoring import Scored

ROLES = ("integrator", "telehealth", "clinician", "admin")

AfterWrite = Callable[[AsyncConnection], Awaitable[None]]


@dataclass(frozen=True)
class AssessmentQuery:
    """Search criteria; every given criterion must match."""

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

    async def add(self, scored: Scored, pending: Sequence[str] = (), then: AfterWrite | None = None) -> bool:
        """Store an assessment with its outputs; False when the same assessment already exists.

        ``pending`` outputs get empty rows that delivery jobs fill; ``then(connection)`` runs inside the
        same transaction (to enqueue those jobs and move the submission on, atomically).
        """
        a = scored.assessment
        async with self.sessions() as session:
            if await session.get(AssessmentRow, a.id) is not None:
                return False
            session.add(
                AssessmentRow(
                    id=a.id,
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
                await session.flush()  # the assessment row first: the outputs reference it
                for name, doc in scored.documents.items():
                    session.add(OutputRow(assessment_id=a.id, output=name, media_type=doc.media_type, body=doc.body, created_at=a.created_at))
                for name, error in scored.output_errors.items():
                    session.add(OutputRow(assessment_id=a.id, output=name, media_type="", body=None, error=error, created_at=a.created_at))
                for name in pending:
                    session.add(OutputRow(assessment_id=a.id, output=name, media_type="", body=None, created_at=a.created_at))
                await session.flush()
                if then is not None:
                    await then(await session.connection())
                await session.commit()
            except IntegrityError:  # a concurrent identical submission won the race
                await session.rollback()
                return False
        return True

    async def get(self, assessment_id: str) -> Assessment | None:
        async with self.sessions() as session:
            row = await session.get(AssessmentRow, assessment_id)
        return None if row is None else msgspec.convert(row.document, Assessment)

    async def get_output(self, assessment_id: str, output: str) -> OutputRow | None:
        async with self.sessions() as session:
            return await session.get(OutputRow, (assessment_id, output))

    async def pending_outputs(self, assessment_id: str | None = None) -> list[tuple[str, str]]:
        """(assessment id, output) pairs still waiting for their delivery job."""
        conditions = [OutputRow.body.is_(None), OutputRow.error.is_(None)]
        if assessment_id is not None:
            conditions.append(OutputRow.assessment_id == assessment_id)
        async with self.sessions() as session:
            rows = await session.execute(select(OutputRow.assessment_id, OutputRow.output).where(*conditions))
            return [tuple(r) for r in rows]

    async def save_output(self, assessment_id: str, document: OutputDocument) -> None:
        """Fill a pending output once; a second delivery of the same output changes nothing."""
        async with self.sessions() as session:
            await session.execute(
                update(OutputRow)
                .where(OutputRow.assessment_id == assessment_id, OutputRow.output == document.output, OutputRow.body.is_(None))
                .values(body=document.body, media_type=document.media_type, error=None, attempts=OutputRow.attempts + 1)
            )
            await session.commit()

    async def output_failed(self, assessment_id: str, output: str, error: str, give_up: bool) -> None:
        """Count a failed delivery attempt; with ``give_up`` the error becomes final."""
        async with self.sessions() as session:
            await session.execute(
                update(OutputRow)
                .where(OutputRow.assessment_id == assessment_id, OutputRow.output == output, OutputRow.body.is_(None))
                .values(attempts=OutputRow.attempts + 1, error=error if give_up else None)
            )
            await session.commit()

    async def search(self, query: AssessmentQuery) -> tuple[list[Assessment], int]:
        """Matching assessments, most recent clip first, plus the total count before paging."""
        columns = {
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
    created_at: datetime
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Bearer tokens are shown once at creation; only their SHA-256 is stored."""

    PREFIX = "pgw_"

    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def create(self, name: str, role: str) -> tuple[TokenInfo, str]:
        if role not in ROLES:
            raise InputError("role", f"must be one of {', '.join(ROLES)}, got {role!r}")
        if not name.strip():
            raise InputError("name", "must say who or what uses the token, e.g. 'epic-interface'")
        secret = self.PREFIX + secrets.token_urlsafe(32)
        row = TokenRow(id=secrets.token_hex(8), name=name.strip(), role=role, token_hash=hash_token(secret), created_at=datetime.now(UTC))
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
    return TokenInfo(row.id, row.name, row.role, row.created_at, row.revoked_at)

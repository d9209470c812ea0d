"""Assessment persistence behind a small async interface.

An assessment is written in one transaction with whatever the caller adds to it (its event and
deliveries, the submission's completion): a failure leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import Row, Select, and_, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from gateway.contract.domain import Assessment
from gateway.storage.engine import as_utc, read_only
from gateway.storage.tables import AssessmentAliasRow, AssessmentRow, ReviewRow

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


# document, clinical status, version, clinician level, reviewer, reviewed at (the last two None before a review)
def _with_review() -> Select[dict[str, Any], str, int, str | None, str | None, datetime | None]:
    """Assessments joined to their latest review (the one that produced the current clinical version)."""
    latest = and_(ReviewRow.assessment_id == AssessmentRow.id, ReviewRow.version == AssessmentRow.clinical_version)
    return (
        select(
            AssessmentRow.document,
            AssessmentRow.clinical_status,
            AssessmentRow.clinical_version,
            AssessmentRow.clinician_level,
            ReviewRow.reviewer,
            ReviewRow.reviewed_at,
        )
        .select_from(AssessmentRow)
        .outerjoin(ReviewRow, latest)
    )


def _assessment(row: Row[dict[str, Any], str, int, str | None, str | None, datetime | None]) -> Assessment:
    """The stored AI result with its current clinical status laid over it (the document is never rewritten)."""
    document, status, version, level, reviewer, reviewed_at = row
    return msgspec.convert(
        {
            **document,
            "status": "completed",
            "clinical_status": status,
            "clinical_version": version,
            "clinician_level": level,
            "reviewed_by": reviewer,
            "reviewed_at": as_utc(reviewed_at).isoformat() if reviewed_at else None,
        },
        Assessment,
    )


class AssessmentStore:
    """Assessments by id, alias or search; every read takes the caller's tenant and returns nothing of another."""

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
            row = (
                await session.execute(
                    _with_review()
                    .join(AssessmentAliasRow, AssessmentAliasRow.assessment_id == AssessmentRow.id)
                    .where(
                        AssessmentAliasRow.tenant == tenant,
                        AssessmentAliasRow.scope == scope,
                        AssessmentAliasRow.kind == kind,
                        AssessmentAliasRow.alias == alias,
                        AssessmentRow.tenant == tenant,
                    )
                    .limit(1)
                )
            ).first()
        return None if row is None else _assessment(row)

    async def unaliased(self, tenant: str, scope: str, kind: str, limit: int = 500) -> list[Assessment]:
        """Assessments of ``tenant`` with no ``kind`` alias in ``scope`` yet: what an output still has to index."""
        indexed = exists().where(
            AssessmentAliasRow.assessment_id == AssessmentRow.id,
            AssessmentAliasRow.tenant == tenant,
            AssessmentAliasRow.scope == scope,
            AssessmentAliasRow.kind == kind,
        )
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

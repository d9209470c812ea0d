"""The assessment listing (``GET /v1/assessments``): one tenant's assessments, newest first, by key.

An integrator reconciling what it received, or a telehealth platform after an outage, asks "what has
the gateway got since then?". The answer is every completed assessment plus every video job that has
not produced one yet (queued, running or failed), ordered by when the gateway received it
(``created_at``, then ``id`` to break ties), read a page at a time from a cursor: the last item's key.
Keyset paging stays correct while new assessments arrive (an offset would shift under them) and costs
one index range scan per page (migration 0012: ``(tenant, created_at, id)`` on both tables).

Completed assessments and unfinished jobs live in two tables; each is read up to ``limit + 1`` rows past
the cursor and the two sorted runs are merged, so a page never needs more than ``2 (limit + 1)`` rows.
A patient, level or clinical-status filter matches completed assessments only (a job has no result yet).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.storage.engine import as_utc, read_only
from gateway.storage.tables import AssessmentRow, SubmissionRow

JOB_STATUSES = ("queued", "extracting", "scoring", "failed")
STATUSES = ("completed", *JOB_STATUSES)
MAX_LIMIT = 200

Key = tuple[datetime, str]
"""(created_at in UTC, id): an item's place in the listing; the cursor is the last item's key."""


@dataclass(frozen=True)
class ListingQuery:
    """Filters of one page; every given one must match. ``after`` is the cursor's key (exclusive)."""

    tenant: str
    system: str | None = None
    value: str | None = None
    since: datetime | None = None  # inclusive, on created_at
    until: datetime | None = None  # exclusive, on created_at
    status: str | None = None
    clinical_status: str | None = None
    level: str | None = None
    after: Key | None = None
    limit: int = 50


@dataclass(frozen=True)
class Listed:
    """One line of the listing; the result fields are None for a job that has none yet."""

    id: str
    created_at: datetime
    status: str
    progress: int
    error: str | None = None
    patient: dict[str, str] | None = None
    effective_start: datetime | None = None
    level: str | None = None
    clinical_status: str | None = None
    clinician_level: str | None = None
    model: str | None = None

    @property
    def key(self) -> Key:
        return (self.created_at, self.id)


def _before(created: Any, ident: Any, key: Key) -> Any:
    """Rows after ``key`` in newest-first order: older, or as old with a smaller id."""
    moment, last = key
    return or_(created < moment, and_(created == moment, ident < last))


def _window(conditions: list[Any], created: Any, ident: Any, query: ListingQuery) -> list[Any]:
    if query.since is not None:
        conditions.append(created >= query.since)
    if query.until is not None:
        conditions.append(created < query.until)
    if query.after is not None:
        conditions.append(_before(created, ident, query.after))
    return conditions


def _completed(query: ListingQuery) -> Select[Any] | None:
    if query.status not in (None, "completed"):
        return None
    row = AssessmentRow
    columns = {row.patient_system: query.system, row.patient_value: query.value, row.level: query.level, row.clinical_status: query.clinical_status}
    conditions = [row.tenant == query.tenant] + [column == value for column, value in columns.items() if value is not None]
    return (
        select(
            row.id,
            row.created_at,
            row.patient_system,
            row.patient_value,
            row.patient_reference,
            row.effective_start,
            row.level,
            row.clinical_status,
            row.clinician_level,
            row.model_id,
            row.model_version,
        )
        .where(*_window(conditions, row.created_at, row.id, query))
        .order_by(row.created_at.desc(), row.id.desc())
        .limit(query.limit + 1)
    )


def _jobs(query: ListingQuery) -> Select[Any] | None:
    if query.status == "completed" or any(v is not None for v in (query.system, query.value, query.level, query.clinical_status)):
        return None
    row = SubmissionRow
    statuses = [query.status] if query.status is not None else list(JOB_STATUSES)
    scored = exists().where(AssessmentRow.id == row.id)
    conditions = [row.tenant == query.tenant, row.status.in_(statuses), ~scored]
    return (
        select(row.id, row.created_at, row.status, row.progress, row.error)
        .where(*_window(conditions, row.created_at, row.id, query))
        .order_by(row.created_at.desc(), row.id.desc())
        .limit(query.limit + 1)
    )


def _patient(system: str | None, value: str | None, reference: str | None) -> dict[str, str] | None:
    if reference:
        return {"reference": reference}
    if system and value:
        return {"system": system, "value": value}
    return None


class AssessmentListing:
    """Pages of one tenant's assessments and unfinished jobs (see the module's docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = read_only(engine)

    async def page(self, query: ListingQuery) -> tuple[list[Listed], Key | None]:
        """Up to ``query.limit`` items after the cursor, newest first, and the key to continue from
        (None on the last page)."""
        found: list[list[Listed]] = []
        async with self.engine.connect() as connection:
            if (statement := _completed(query)) is not None:
                found.append(
                    [
                        Listed(
                            id=r.id,
                            created_at=as_utc(r.created_at),
                            status="completed",
                            progress=100,
                            patient=_patient(r.patient_system, r.patient_value, r.patient_reference),
                            effective_start=as_utc(r.effective_start),
                            level=r.level,
                            clinical_status=r.clinical_status,
                            clinician_level=r.clinician_level,
                            model=f"{r.model_id} {r.model_version}",
                        )
                        for r in await connection.execute(statement)
                    ]
                )
            if (statement := _jobs(query)) is not None:
                found.append(
                    [
                        Listed(id=r.id, created_at=as_utc(r.created_at), status=r.status, progress=r.progress, error=r.error)
                        for r in await connection.execute(statement)
                    ]
                )
        merged = list(heapq.merge(*found, key=lambda item: item.key, reverse=True))
        items = merged[: query.limit]
        return items, (items[-1].key if len(merged) > query.limit else None)

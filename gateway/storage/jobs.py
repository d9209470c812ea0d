"""Submission job state in the database: the single source of truth for background assessments.

Job engines (embedded or procrastinate) only *trigger* work; every transition is a conditional
UPDATE here, so a duplicate trigger, a retried job or a second worker can never process a submission
twice or resurrect a finished one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from gateway.contract.domain import DEFAULT_TENANT
from gateway.storage.events import Events, new_event
from gateway.storage.tables import SubmissionRow

STAGES = ("queued", "extracting", "scoring", "completed", "failed")
TERMINAL = ("completed", "failed")
ACTIVE = ("extracting", "scoring")


@dataclass(frozen=True)
class Submission:
    id: str
    status: str
    progress: int
    source: str
    request: dict[str, Any]
    attempts: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    tenant: str

    def eta_s(self, now: datetime | None = None) -> float | None:
        """Remaining seconds extrapolated from this attempt's progress so far; None until it moves."""
        if self.status in TERMINAL or self.started_at is None or self.progress <= 0:
            return None
        elapsed = ((now or datetime.now(UTC)) - _aware(self.started_at)).total_seconds()
        return round(elapsed * (100 - self.progress) / self.progress, 1)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _submission(row: SubmissionRow) -> Submission:
    return Submission(
        row.id,
        row.status,
        row.progress,
        row.source,
        row.request,
        row.attempts,
        row.error,
        _aware(row.created_at),
        _aware(row.updated_at),
        row.started_at and _aware(row.started_at),
        row.tenant,
    )


Enqueue = Callable[[AsyncConnection, str], Awaitable[None]]


def _stalled(stalled_after_s: float):
    """Extracting or scoring, with no heartbeat for ``stalled_after_s``: its worker is gone."""
    stale = datetime.now(UTC) - timedelta(seconds=stalled_after_s)
    return SubmissionRow.status.in_(ACTIVE) & (SubmissionRow.heartbeat_at < stale)


class SubmissionStore:
    """``events``: a submission that fails records ``assessment.failed`` in the same transaction."""

    def __init__(self, engine: AsyncEngine, events: Events | None = None) -> None:
        self.engine = engine
        self.events = events
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def _fail_where(self, submission_id: str, conditions: list, error: str, now: datetime) -> bool:
        """Fail the submission if ``conditions`` still hold, with its event: both or neither."""
        event = None
        async with self.engine.begin() as connection:
            result = await connection.execute(update(SubmissionRow).where(*conditions).values(status="failed", error=error, heartbeat_at=now, updated_at=now))
            if result.rowcount == 1 and self.events is not None:
                tenant = await connection.scalar(select(SubmissionRow.tenant).where(SubmissionRow.id == submission_id))
                event = new_event("assessment.failed", submission_id, tenant, error)
                await self.events.record(connection, event)
        if event is not None:
            self.events.committed(event)
        return result.rowcount == 1

    async def create(
        self, submission_id: str, source: str, request: dict, idempotency_key: str | None, enqueue: Enqueue, tenant: str = DEFAULT_TENANT
    ) -> tuple[Submission, bool]:
        """Insert a queued submission and enqueue its job in the same transaction.

        With an idempotency key already used, the existing submission is returned (created=False).
        """
        now = datetime.now(UTC)
        async with self.sessions() as session:
            session.add(
                SubmissionRow(
                    id=submission_id,
                    tenant=tenant,
                    status="queued",
                    progress=0,
                    source=source,
                    request=request,
                    idempotency_key=idempotency_key,
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            try:
                await session.flush()
                await enqueue(await session.connection(), submission_id)
                await session.commit()
            except IntegrityError:
                await session.rollback()
                existing = await self.by_key(idempotency_key) if idempotency_key else None
                if existing is None:
                    raise
                return existing, False
            return _submission(await session.get(SubmissionRow, submission_id)), True

    async def get(self, submission_id: str, tenant: str | None = None) -> Submission | None:
        """The submission; with ``tenant``, only if it belongs to that tenant (callers' reads always pass it)."""
        async with self.sessions() as session:
            row = await session.get(SubmissionRow, submission_id)
        return None if row is None or tenant not in (None, row.tenant) else _submission(row)

    async def by_key(self, key: str) -> Submission | None:
        async with self.sessions() as session:
            row = await session.scalar(select(SubmissionRow).where(SubmissionRow.idempotency_key == key))
        return None if row is None else _submission(row)

    async def in_progress(self, tenant: str) -> tuple[int, int]:
        """The tenant's (waiting, running) submissions: what its per-tenant limits count."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(SubmissionRow.status, func.count())
                .where(SubmissionRow.tenant == tenant, SubmissionRow.status.not_in(TERMINAL))
                .group_by(SubmissionRow.status)
            )
            counts = dict(rows.all())
        return counts.get("queued", 0), sum(counts.get(status, 0) for status in ACTIVE)

    async def claim(self, submission_id: str, stalled_after_s: float, max_attempts: int, max_running_per_tenant: int) -> Submission | None:
        """Take a queued (or stalled) submission for processing; None if it is not ours to run, or its
        tenant already has ``max_running_per_tenant`` running (it stays queued: one tenant's burst
        cannot take every worker).

        A stalled submission that has used up its attempts (e.g. it kills its worker every time) is
        failed here instead, so it cannot take workers down forever.
        """
        current = await self.get(submission_id)
        if current is None or (current.status == "queued" and (await self.in_progress(current.tenant))[1] >= max_running_per_tenant):
            return None
        now = datetime.now(UTC)
        await self._fail_where(
            submission_id,
            [SubmissionRow.id == submission_id, _stalled(stalled_after_s), SubmissionRow.attempts >= max_attempts],
            f"gave up after {max_attempts} attempts: the worker stopped responding",
            now,
        )
        async with self.sessions() as session:
            result = await session.execute(
                update(SubmissionRow)
                .where(SubmissionRow.id == submission_id, or_(SubmissionRow.status == "queued", _stalled(stalled_after_s)))
                .values(status="extracting", progress=0, attempts=SubmissionRow.attempts + 1, started_at=now, heartbeat_at=now, updated_at=now, error=None)
            )
            await session.commit()
            if result.rowcount != 1:
                return None
            return _submission(await session.get(SubmissionRow, submission_id))

    async def advance(
        self,
        submission_id: str,
        status: str,
        progress: int,
        error: str | None = None,
        connection: AsyncConnection | None = None,
        expect: str | None = None,
    ) -> None:
        """Move a submission on (also its heartbeat); terminal submissions never move again.

        ``expect`` makes the move conditional on the current status, so a late progress report can
        never drag a submission back to an earlier stage.
        """
        now = datetime.now(UTC)
        conditions = [SubmissionRow.id == submission_id, SubmissionRow.status.not_in(TERMINAL)]
        if expect is not None:
            conditions.append(SubmissionRow.status == expect)
        if status == "failed" and connection is None:
            await self._fail_where(submission_id, conditions, error or "failed", now)
            return
        statement = update(SubmissionRow).where(*conditions).values(status=status, progress=progress, error=error, heartbeat_at=now, updated_at=now)
        if connection is not None:
            await connection.execute(statement)
            return
        async with self.sessions() as session:
            await session.execute(statement)
            await session.commit()

    async def requeue_or_fail(self, submission_id: str, error: str, max_attempts: int) -> str:
        """After a failed attempt at extraction or scoring: back to the queue while attempts remain,
        else failed with the reason. A submission already past scoring is left to its deliveries."""
        sub = await self.get(submission_id)
        if sub is None or sub.status not in ACTIVE:
            return sub.status if sub else "missing"
        if sub.attempts >= max_attempts:
            await self.advance(submission_id, "failed", sub.progress, f"gave up after {sub.attempts} attempts: {error}", expect=sub.status)
            return "failed"
        await self.advance(submission_id, "queued", 0, f"attempt {sub.attempts} failed, will retry: {error}", expect=sub.status)
        return "queued"

    async def release(self, submission_id: str, reason: str) -> bool:
        """Put an interrupted submission back on the queue *without* spending an attempt.

        For interruptions that are not the job's doing (its gateway was restarted, or another job's
        worker broke the pool): the attempt its claim counted is given back, so only a job that kills
        its own worker again and again runs out of attempts. False if it was no longer running.
        """
        now = datetime.now(UTC)
        async with self.sessions() as session:
            result = await session.execute(
                update(SubmissionRow)
                .where(SubmissionRow.id == submission_id, SubmissionRow.status.in_(ACTIVE))  # active: claimed, so attempts >= 1
                .values(status="queued", progress=0, attempts=SubmissionRow.attempts - 1, updated_at=now, error=f"interrupted, will retry: {reason}")
            )
            await session.commit()
        return result.rowcount == 1

    async def stalled(self, stalled_after_s: float) -> list[str]:
        """Active submissions whose worker stopped sending heartbeats (crashed or killed)."""
        async with self.sessions() as session:
            rows = await session.scalars(select(SubmissionRow.id).where(_stalled(stalled_after_s)))
            return list(rows)

    async def waiting(self, status: str, older_than_s: float) -> list[str]:
        """Submissions sitting in ``status`` (e.g. queued) untouched for ``older_than_s``."""
        since = datetime.now(UTC) - timedelta(seconds=older_than_s)
        async with self.sessions() as session:
            rows = await session.scalars(select(SubmissionRow.id).where(SubmissionRow.status == status, SubmissionRow.updated_at < since))
            return list(rows)

    async def queued(self, limit: int = 100) -> list[str]:
        async with self.sessions() as session:
            rows = await session.scalars(select(SubmissionRow.id).where(SubmissionRow.status == "queued").order_by(SubmissionRow.created_at).limit(limit))
            return list(rows)

    async def retry(self, submission_id: str, enqueue: Enqueue, tenant: str) -> Submission | None:
        """Run a failed submission of ``tenant`` again from the start (``POST /v1/assessments/{id}/retry``)."""
        now = datetime.now(UTC)
        async with self.sessions() as session:
            result = await session.execute(
                update(SubmissionRow)
                .where(SubmissionRow.id == submission_id, SubmissionRow.tenant == tenant, SubmissionRow.status == "failed")
                .values(status="queued", progress=0, attempts=0, error=None, updated_at=now)
            )
            if result.rowcount != 1:
                await session.rollback()
                return None
            await enqueue(await session.connection(), submission_id)
            await session.commit()
            return _submission(await session.get(SubmissionRow, submission_id))

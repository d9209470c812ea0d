"""The delivery ledger: one row per (event, destination, target) and every attempt made for it.

Rows are written in the transaction that commits their event, so an event is never without its
deliveries. A delivery job claims a due row with a conditional update and a lease (two workers never
send one delivery at once; a worker that dies mid-send leaves the lease to expire), records the
attempt, and either finishes the row (delivered, dead) or schedules the next attempt on the one
retry schedule (``Settings.delivery_retry_schedule_s``).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast, overload

import msgspec
from sqlalchemy import ColumnElement, CursorResult, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from gateway.contract.domain import AssessmentEvent, DeliveryResult
from gateway.storage.tables import DeliveryAttemptRow, DeliveryRow, EventRow

DELIVERY_NAMESPACE = uuid.UUID("3d6f0a52-8c1e-5b0f-a3c4-77e2d9b1f640")
STATUSES = ("pending", "sending", "retrying", "delivered", "dead")
EXCERPT_CHARS = 500
MAX_RETRY_AFTER_S = 86400.0
JITTER = 0.2


def delivery_id(event_id: str, destination: str, target: str) -> str:
    """Stable per (event, destination, target): receivers deduplicate on it across retries."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{event_id}/{destination}/{target}"))


def next_wait_s(attempts: int, schedule: Sequence[float], retry_after_s: float | None, rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones; None when the budget is spent.

    Jitter (±20 %) spreads retries of many deliveries to one recovering receiver; a receiver's
    ``Retry-After`` is honoured when it asks for longer (capped at a day).
    """
    if attempts > len(schedule):
        return None
    wait = schedule[attempts - 1] * (1 + JITTER * (2 * (rng or random).random() - 1))
    if retry_after_s is not None:
        wait = max(wait, min(retry_after_s, MAX_RETRY_AFTER_S))
    return wait


class Attempt(msgspec.Struct, frozen=True):
    """One try: when, how long, what the receiver answered."""

    attempt: int
    started_at: datetime
    duration_ms: float
    outcome: str
    status_code: str | None
    response_excerpt: str | None
    reason: str | None


class TargetAttempt(Attempt, frozen=True, kw_only=True):
    """One try at one delivery to a target, with the delivery it belongs to (a destination's history)."""

    delivery_id: str
    event_type: str
    assessment_id: str
    delivery_status: str


class Delivery(msgspec.Struct, frozen=True):
    """One delivery: ``status`` pending | sending | retrying | delivered | dead (dead letter)."""

    id: str
    tenant: str
    event_id: str
    event_type: str
    assessment_id: str
    destination: str
    target: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class DeliveryQuery:
    tenant: str | None = None  # None only for operators (the CLI); API callers always pass theirs
    status: str | None = None
    destination: str | None = None
    assessment_id: str | None = None
    limit: int = 50
    offset: int = 0


@overload
def _aware(moment: datetime) -> datetime: ...
@overload
def _aware(moment: datetime | None) -> datetime | None: ...
def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def _delivery(row: DeliveryRow) -> Delivery:
    return Delivery(
        row.id,
        row.tenant,
        row.event_id,
        row.event_type,
        row.assessment_id,
        row.destination,
        row.target,
        row.status,
        row.attempts,
        _aware(row.next_attempt_at),
        row.last_error,
        _aware(row.created_at),
        _aware(row.updated_at),
        _aware(row.delivered_at),
    )


def _due(now: datetime) -> ColumnElement[bool]:
    """Waiting and due, or claimed by a worker whose lease ran out (it died mid-send)."""
    waiting = DeliveryRow.status.in_(("pending", "retrying")) & (DeliveryRow.next_attempt_at <= now)
    abandoned = (DeliveryRow.status == "sending") & (DeliveryRow.lease_until < now)
    return or_(waiting, abandoned)


def in_backlog(now: datetime) -> ColumnElement[bool]:
    """A delivery's backlog: due (waiting, its time come) or being sent. A retry scheduled for later is
    not (a receiver that is down shows on ``/ready`` as a failing destination, not as a backlog)."""
    return or_(DeliveryRow.status.in_(("pending", "retrying")) & (DeliveryRow.next_attempt_at <= now), DeliveryRow.status == "sending")


@dataclass(frozen=True)
class Backlog:
    """Deliveries due or being sent, of every tenant: how many, the oldest due moment, how many tenants are at or over a cap."""

    count: int
    oldest_due: datetime | None
    tenants_over_cap: int


class DeliveryStore:
    """The delivery ledger: one row per (event, destination, target), its attempts, due work and redelivery."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @staticmethod
    async def record_event(connection: AsyncConnection, event: AssessmentEvent, recipients: Sequence[tuple[str, str]]) -> list[str]:
        """Write the event and one pending delivery per (destination, target), in the caller's transaction."""
        await connection.execute(
            insert(EventRow).values(
                id=event.id,
                tenant=event.tenant,
                type=event.type,
                assessment_id=event.assessment_id,
                occurred_at=event.occurred_at,
                error=event.error,
            )
        )
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = [
            {
                "id": delivery_id(event.id, destination, target),
                "tenant": event.tenant,
                "event_id": event.id,
                "event_type": event.type,
                "assessment_id": event.assessment_id,
                "destination": destination,
                "target": target,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for destination, target in recipients
        ]
        if rows:
            await connection.execute(insert(DeliveryRow), rows)
        return [row["id"] for row in rows]

    async def event(self, event_id: str) -> AssessmentEvent | None:
        async with self.sessions() as session:
            row = await session.get(EventRow, event_id)
        if row is None:
            return None
        return AssessmentEvent(
            id=row.id, type=row.type, assessment_id=row.assessment_id, occurred_at=_aware(row.occurred_at), tenant=row.tenant, error=row.error
        )

    async def claim(self, delivery: str, lease_s: float) -> Delivery | None:
        """Take a due delivery for one attempt; None when it is not due or another worker holds it."""
        now = datetime.now(UTC)
        async with self.sessions() as session:
            result = cast(
                "CursorResult[Any]",
                await session.execute(  # an UPDATE's result is a CursorResult: it has rowcount
                    update(DeliveryRow)
                    .where(DeliveryRow.id == delivery, _due(now))
                    .values(status="sending", attempts=DeliveryRow.attempts + 1, lease_until=now + timedelta(seconds=lease_s), updated_at=now)
                ),
            )
            await session.commit()
            if result.rowcount != 1:
                return None
            row = await session.get(DeliveryRow, delivery)
            assert row is not None  # just updated it
            return _delivery(row)

    async def record(self, delivery: Delivery, started_at: datetime, duration_ms: float, result: DeliveryResult, schedule: Sequence[float]) -> Delivery:
        """Log the attempt and move the delivery on: delivered, dead, or retrying at the next time."""
        now = datetime.now(UTC)
        values: dict[str, Any] = {"lease_until": None, "updated_at": now}
        if result.outcome == "delivered":
            values |= {"status": "delivered", "delivered_at": now, "next_attempt_at": None, "last_error": None}
        elif result.outcome == "failed":
            values |= {"status": "dead", "next_attempt_at": None, "last_error": result.reason}
        else:
            wait = next_wait_s(delivery.attempts, schedule, result.retry_after_s)
            if wait is None:
                values |= {"status": "dead", "next_attempt_at": None, "last_error": f"gave up after {delivery.attempts} attempts: {result.reason}"}
            else:
                values |= {"status": "retrying", "next_attempt_at": now + timedelta(seconds=wait), "last_error": result.reason}
        async with self.sessions() as session:
            session.add(
                DeliveryAttemptRow(
                    delivery_id=delivery.id,
                    attempt=delivery.attempts,
                    started_at=started_at,
                    duration_ms=round(duration_ms, 1),
                    outcome=result.outcome,
                    status_code=None if result.status_code is None else str(result.status_code),
                    response_excerpt=result.response_excerpt[:EXCERPT_CHARS] or None,
                    reason=result.reason or None,
                )
            )
            await session.execute(update(DeliveryRow).where(DeliveryRow.id == delivery.id, DeliveryRow.status == "sending").values(**values))
            await session.commit()
            row = await session.get(DeliveryRow, delivery.id)
            assert row is not None  # the delivery being recorded
            return _delivery(row)

    async def due(self, limit: int = 100) -> list[str]:
        now = datetime.now(UTC)
        async with self.sessions() as session:
            rows = await session.scalars(select(DeliveryRow.id).where(_due(now)).order_by(DeliveryRow.next_attempt_at).limit(limit))
            return list(rows)

    async def tenant_backlog(self, tenant: str) -> int:
        """One tenant's deliveries due or being sent (a range of ``ix_deliveries_tenant_status_next_attempt``)."""
        async with self.sessions() as session:
            count = await session.scalar(select(func.count()).select_from(DeliveryRow).where(DeliveryRow.tenant == tenant, in_backlog(datetime.now(UTC))))
            return int(count or 0)

    async def backlog(self, cap: int) -> Backlog:
        """Every tenant's backlog together, and how many tenants are at or over ``cap`` (``/ready``; their
        submissions are refused): tenants are counted, never named."""
        now = datetime.now(UTC)
        async with self.sessions() as session:
            per_tenant = (
                select(DeliveryRow.tenant, func.count().label("n"), func.min(DeliveryRow.next_attempt_at).label("oldest"))
                .where(in_backlog(now))
                .group_by(DeliveryRow.tenant)
                .subquery()
            )
            count, oldest, over = (
                await session.execute(
                    select(func.coalesce(func.sum(per_tenant.c.n), 0), func.min(per_tenant.c.oldest), func.count().filter(per_tenant.c.n >= cap))
                )
            ).one()
            return Backlog(int(count), _aware(oldest), int(over))

    async def get(self, delivery: str, tenant: str | None = None) -> Delivery | None:
        async with self.sessions() as session:
            row = await session.get(DeliveryRow, delivery)
        return None if row is None or tenant not in (None, row.tenant) else _delivery(row)

    async def attempts(self, delivery: str) -> list[Attempt]:
        async with self.sessions() as session:
            rows = await session.scalars(select(DeliveryAttemptRow).where(DeliveryAttemptRow.delivery_id == delivery).order_by(DeliveryAttemptRow.id))
            return [Attempt(r.attempt, _aware(r.started_at), r.duration_ms, r.outcome, r.status_code, r.response_excerpt, r.reason) for r in rows]

    async def target_attempts(self, destination: str, target: str, tenant: str | None, limit: int) -> list[TargetAttempt]:
        """The newest attempts at deliveries to one target of a destination (a webhook endpoint), for one tenant."""
        a, d = DeliveryAttemptRow, DeliveryRow
        query = (
            select(
                a.attempt,
                a.started_at,
                a.duration_ms,
                a.outcome,
                a.status_code,
                a.response_excerpt,
                a.reason,
                d.id.label("delivery_id"),
                d.event_type,
                d.assessment_id,
                d.status,
            )
            .join(d, d.id == a.delivery_id)
            .where(d.destination == destination, d.target == target, *([d.tenant == tenant] if tenant else []))
            .order_by(a.started_at.desc(), a.id.desc())
            .limit(limit)
        )
        async with self.sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            TargetAttempt(
                r.attempt,
                _aware(r.started_at),
                r.duration_ms,
                r.outcome,
                r.status_code,
                r.response_excerpt,
                r.reason,
                delivery_id=r.delivery_id,
                event_type=r.event_type,
                assessment_id=r.assessment_id,
                delivery_status=r.status,
            )
            for r in rows
        ]

    async def target_status(self, delivery: str, destination: str, target: str) -> str | None:
        """The status of one delivery if it goes to that target of that destination, else None."""
        d = DeliveryRow
        async with self.sessions() as session:
            return (await session.execute(select(d.status).where(d.id == delivery, d.destination == destination, d.target == target))).scalar_one_or_none()

    async def search(self, query: DeliveryQuery) -> tuple[list[Delivery], int]:
        """Matching deliveries, newest first, plus the total before paging."""
        columns = {
            DeliveryRow.tenant: query.tenant,
            DeliveryRow.status: query.status,
            DeliveryRow.destination: query.destination,
            DeliveryRow.assessment_id: query.assessment_id,
        }
        conditions = [column == value for column, value in columns.items() if value is not None]
        async with self.sessions() as session:
            total = await session.scalar(select(func.count()).select_from(DeliveryRow).where(*conditions))
            rows = await session.scalars(
                select(DeliveryRow).where(*conditions).order_by(DeliveryRow.created_at.desc(), DeliveryRow.id).limit(query.limit).offset(query.offset)
            )
            return [_delivery(r) for r in rows], int(total or 0)

    async def redeliver(self, delivery: str, tenant: str | None = None) -> Delivery | None:
        """Send again now with a fresh retry budget (any state but mid-send); None if it does not exist
        (in ``tenant``) or is being sent right now. The attempt log keeps every earlier attempt."""
        now = datetime.now(UTC)
        conditions = [DeliveryRow.id == delivery, DeliveryRow.status != "sending"]
        if tenant is not None:
            conditions.append(DeliveryRow.tenant == tenant)
        async with self.sessions() as session:
            result = cast(
                "CursorResult[Any]",
                await session.execute(  # an UPDATE's result is a CursorResult: it has rowcount
                    update(DeliveryRow).where(*conditions).values(status="pending", attempts=0, next_attempt_at=now, last_error=None, updated_at=now)
                ),
            )
            await session.commit()
            if result.rowcount != 1:
                return None
            row = await session.get(DeliveryRow, delivery)
            assert row is not None  # just updated it
            return _delivery(row)

    async def failing_since(self) -> dict[str, datetime]:
        """Per destination, the first attempt of its oldest delivery still being retried: how long the
        receiver has been failing. Dead letters are listed by ``search``, not counted here."""
        async with self.sessions() as session:
            oldest = (
                select(DeliveryRow.destination, func.min(DeliveryAttemptRow.started_at))
                .join(DeliveryAttemptRow, DeliveryAttemptRow.delivery_id == DeliveryRow.id)
                .where(DeliveryRow.status == "retrying")
                .group_by(DeliveryRow.destination)
            )
            return {destination: _aware(since) for destination, since in await session.execute(oldest)}

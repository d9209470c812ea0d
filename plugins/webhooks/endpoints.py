"""Webhook endpoints and their delivery history, in the gateway's database.

Secrets are stored as given (they sign, so they cannot be hashed) and only ever leave this module in
the create and rotate answers. Endpoints are the plugin's own table (``plugins.webhooks.tables``);
delivery rows belong to the core's ledger, which this module reads only through the public
``DeliveryStore`` (the attempt log, whether a message may be replayed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway import DEFAULT_TENANT, DeliveryAttempt, DeliveryStore, TargetAttempt
from plugins.webhooks.signing import new_secret
from plugins.webhooks.tables import WebhookEndpointRow

DESTINATION = "webhooks"
MESSAGE_PREFIX = "msg_"


def message_id(delivery_id: str) -> str:
    """The ``webhook-id``: the ledger row's id, stable across retries and replays."""
    return MESSAGE_PREFIX + delivery_id


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    secret: str
    previous_secret: str | None
    previous_secret_expires_at: datetime | None

    def active_secrets(self, now: datetime | None = None) -> list[str]:
        """The current secret, plus the previous one until its grace period ends."""
        now = now or datetime.now(UTC)
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            return [self.secret, self.previous_secret]
        return [self.secret]

    @classmethod
    def from_row(cls, row: WebhookEndpointRow) -> Endpoint:
        return cls(
            id=row.id,
            url=row.url,
            events=list(row.events),
            description=row.description,
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            created_by=row.created_by,
            created_at=_aware(row.created_at),
            updated_at=_aware(row.updated_at),
            secret=row.secret,
            previous_secret=row.previous_secret,
            previous_secret_expires_at=_aware(row.previous_secret_expires_at),
        )


class Attempt(DeliveryAttempt, frozen=True):
    """A delivery attempt to this endpoint, with the message it carried (``message_id`` = ``webhook-id``)."""

    message_id: str
    delivery_id: str
    event_type: str
    assessment_id: str
    delivery_status: str

    @classmethod
    def of(cls, attempt: TargetAttempt) -> Attempt:
        return cls(**msgspec.structs.asdict(attempt), message_id=message_id(attempt.delivery_id))


class ReplayRefused(Exception):
    """The message exists but cannot be queued again now (endpoint disabled, or being sent)."""


T = WebhookEndpointRow


class EndpointStore:
    """``tenant`` scopes every read and change to one tenant's endpoints (callers' requests always
    pass theirs); unscoped, the store serves delivery jobs, whose targets were scoped when planned."""

    def __init__(self, engine: AsyncEngine, tenant: str | None = None) -> None:
        self.engine = engine
        self.tenant = tenant

    def _mine(self, *conditions):
        return (*conditions, T.tenant == self.tenant) if self.tenant is not None else conditions

    async def create(self, url: str, events: list[str], description: str, created_by: str | None) -> Endpoint:
        now = datetime.now(UTC)
        values = {
            "id": str(uuid.uuid4()),
            "tenant": self.tenant or DEFAULT_TENANT,
            "url": url,
            "events": list(events),
            "description": description,
            "secret": new_secret(),
            "previous_secret": None,
            "previous_secret_expires_at": None,
            "enabled": True,
            "disabled_reason": None,
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
        }
        async with self.engine.begin() as conn:
            await conn.execute(T.__table__.insert().values(**values))
        return await self.get(values["id"])

    async def get(self, endpoint_id: str) -> Endpoint | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(T).where(*self._mine(T.id == endpoint_id)))).first()
        return Endpoint.from_row(row) if row else None

    async def list(self) -> list[Endpoint]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(T).where(*self._mine()).order_by(T.created_at, T.id))).all()
        return [Endpoint.from_row(r) for r in rows]

    async def set_enabled(self, endpoint_id: str, enabled: bool, reason: str | None = None) -> Endpoint | None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(T)
                .where(*self._mine(T.id == endpoint_id))
                .values(enabled=enabled, disabled_reason=None if enabled else reason, updated_at=datetime.now(UTC))
            )
        return await self.get(endpoint_id) if result.rowcount else None

    async def rotate(self, endpoint_id: str, grace: timedelta) -> Endpoint | None:
        """A new secret; the current one keeps signing for ``grace`` so receivers can switch."""
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(T.secret).where(*self._mine(T.id == endpoint_id)).with_for_update())).first()
            if row is None:
                return None
            await conn.execute(
                update(T)
                .where(T.id == endpoint_id)
                .values(secret=new_secret(), previous_secret=row.secret, previous_secret_expires_at=now + grace, updated_at=now)
            )
        return await self.get(endpoint_id)

    async def delete(self, endpoint_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(T).where(*self._mine(T.id == endpoint_id)))
        return bool(result.rowcount)

    @staticmethod
    async def subscribed(connection: AsyncConnection, event_type: str, tenant: str) -> list[str]:
        """Ids of the tenant's enabled endpoints subscribed to ``event_type`` (in the caller's transaction).

        ``events`` is a JSON list; filtering it in Python keeps one query for SQLite and PostgreSQL.
        """
        enabled = select(T.id, T.events).where(T.enabled.is_(True), T.tenant == tenant).order_by(T.created_at, T.id)
        rows = (await connection.execute(enabled)).all()
        return [row.id for row in rows if event_type in (row.events or [])]

    async def attempts(self, endpoint_id: str, limit: int) -> list[Attempt]:
        """The newest ``limit`` attempts at this endpoint's deliveries (of this store's tenant, if scoped)."""
        attempts = await DeliveryStore(self.engine).target_attempts(DESTINATION, endpoint_id, self.tenant, limit)
        return [Attempt.of(a) for a in attempts]

    async def replayable(self, endpoint_id: str, message: str) -> str | None:
        """The delivery id behind one message of this endpoint, if it may be sent again; None if it is not ours.

        Raises ``ReplayRefused`` while the endpoint is disabled (the send would fail at once) or while
        the message is being sent (a second copy would race the first).
        """
        if not message.startswith(MESSAGE_PREFIX):
            return None
        delivery_id = message.removeprefix(MESSAGE_PREFIX)
        async with self.engine.connect() as conn:
            enabled = (await conn.execute(select(T.enabled).where(*self._mine(T.id == endpoint_id)))).scalar_one_or_none()
        if enabled is None:
            return None
        status = await DeliveryStore(self.engine).target_status(delivery_id, DESTINATION, endpoint_id)
        if status is None:
            return None
        if not enabled:
            raise ReplayRefused("the endpoint is disabled; enable it before replaying a message")
        if status == "sending":
            raise ReplayRefused("the message is being sent right now; wait for this attempt to finish")
        return delivery_id

"""Domain events: recorded with their deliveries inside the transaction that causes them, observed after.

Destinations subscribe in the transaction (``Destination.targets``), so a committed event always has
its ledger rows and delivery jobs; ``handle_event`` observers are told once the commit is done.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.contract.domain import AssessmentEvent
from gateway.storage.deliveries import DeliveryStore
from gateway.storage.engine import as_utc
from gateway.storage.tables import EventRow

if TYPE_CHECKING:
    from gateway.contract.plugin_manager import Plugins


class DeliveryTrigger(Protocol):
    async def enqueue_delivery(self, connection: AsyncConnection | None, delivery_ids: list[str]) -> None: ...


def new_event(event_type: str, assessment_id: str, tenant: str, error: str | None = None) -> AssessmentEvent:
    return AssessmentEvent(id=str(uuid.uuid4()), type=event_type, assessment_id=assessment_id, occurred_at=datetime.now(UTC), tenant=tenant, error=error)


class Events:
    def __init__(self, plugins: Plugins, trigger: DeliveryTrigger) -> None:
        self.plugins = plugins
        self.trigger = trigger

    async def record(self, connection: AsyncConnection, event: AssessmentEvent) -> list[str]:
        """Write the event, a delivery per interested destination target, and their jobs: all or nothing.
        Destinations see the event with ``documents`` set (the outputs a plugin renders for its own event)."""
        if event.type not in self.plugins.event_types:
            raise ValueError(f"unknown event type {event.type!r}; declared: {', '.join(self.plugins.event_types)}")
        event = self.plugins.with_documents(event)
        recipients = [
            (destination.name, target) for destination in self.plugins.destinations.values() for target in await destination.targets(event, connection)
        ]
        ids = await DeliveryStore.record_event(connection, event, recipients)
        if ids:
            await self.trigger.enqueue_delivery(connection, ids)
        return ids

    async def record_once(self, connection: AsyncConnection, event: AssessmentEvent) -> AssessmentEvent:
        """``record`` unless an event with this id is already recorded (a plugin publishing again after a
        crash or a retry): then the stored event, and nothing is written."""
        stored = (await connection.execute(select(EventRow).where(EventRow.id == event.id))).first()
        if stored is not None:
            row = stored[0]
            return AssessmentEvent(
                id=row.id, type=row.type, assessment_id=row.assessment_id, occurred_at=as_utc(row.occurred_at), tenant=row.tenant, error=row.error
            )
        await self.record(connection, event)
        return event

    def committed(self, event: AssessmentEvent) -> None:
        self.plugins.handle_event(event)

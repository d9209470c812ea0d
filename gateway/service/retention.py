"""The retention policy: kept landmarks older than ``PAIN_GATEWAY_RETENTION_DAYS`` are deleted, each
removal audited (``delete`` of ``landmarks``, acting for the assessment's tenant) and taken off its
tenant's storage (``PAIN_GATEWAY_TENANT_MAX_STORAGE_MB``).

Run at the embedded engine's start and then daily (``RETENTION_EVERY_S``), or by ``pain-gateway
retention run``. Replicas sharing the data directory and database may run it at once: a file is
removed once, audited once (the row that marks it removed is claimed by one of them). Landmarks kept
before their sizes were accounted (no ``kept_landmarks`` row) are found through their assessment's
``created_at``. Request bodies are never retained past their request (``scoring_pool.remove_stale_spills``
sweeps those a killed gateway left), and videos are deleted after extraction, so landmarks are the
only patient data on disk this policy has to bound.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.storage import audit, kept_landmarks
from gateway.storage.tables import AssessmentRow, KeptLandmarksRow

RETENTION_EVERY_S = 86_400.0
BATCH = 500


@dataclass(frozen=True)
class Removed:
    tenant: str
    assessment_id: str
    bytes: int


async def _claim(engine: AsyncEngine, tenant: str, assessment_id: str, size: int, now: datetime, accounted: bool) -> bool:
    """Mark the file removed and audit it in one transaction; False when another run did it first."""
    async with engine.begin() as connection:
        if accounted:
            done = await connection.execute(
                update(KeptLandmarksRow).where(KeptLandmarksRow.assessment_id == assessment_id, KeptLandmarksRow.removed_at.is_(None)).values(removed_at=now)
            )
            if done.rowcount != 1:
                return False
        else:
            try:
                await connection.execute(insert(KeptLandmarksRow).values(assessment_id=assessment_id, tenant=tenant, bytes=size, kept_at=now, removed_at=now))
            except IntegrityError:
                return False
        if size:
            await audit.record(connection, "delete", "landmarks", assessment_id, principal=audit.acting_for(tenant))
    return True


async def run_retention(engine: AsyncEngine, data_dir: str, days: int, now: datetime | None = None) -> list[Removed]:
    """Delete every tenant's kept landmarks older than ``days`` (none when ``days`` is 0); what was removed."""
    if days == 0:
        return []
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    accounted = (
        select(KeptLandmarksRow.tenant, KeptLandmarksRow.assessment_id)
        .where(KeptLandmarksRow.removed_at.is_(None), KeptLandmarksRow.kept_at < cutoff)
        .order_by(KeptLandmarksRow.kept_at)
    )
    # files kept before accounting: each assessment looked at once (a row marks it done)
    unaccounted = select(AssessmentRow.tenant, AssessmentRow.id).where(
        AssessmentRow.created_at < cutoff, ~AssessmentRow.id.in_(select(KeptLandmarksRow.assessment_id))
    )
    removed: list[Removed] = []
    for query, is_accounted in ((accounted, True), (unaccounted, False)):
        while True:
            async with engine.connect() as connection:
                rows = (await connection.execute(query.limit(BATCH))).all()
            for tenant, assessment_id in rows:
                size = await asyncio.to_thread(kept_landmarks.remove, data_dir, assessment_id)
                if await _claim(engine, tenant, assessment_id, size, now, accounted=is_accounted) and size:
                    removed.append(Removed(tenant, assessment_id, size))
            if len(rows) < BATCH:
                break
    return removed

"""Recorded scores in the plugin's table, always read and written within one tenant."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway import PatientRef, as_utc, audit_record, read_only
from plugins.reference_scales.recording import ScoreInput
from plugins.reference_scales.tables import ScaleScoreRow

MAX_SCORES = 20000
"""At most this many scores enter one concordance computation (narrow ``since``/``until`` beyond it)."""


@dataclass(frozen=True)
class Score:
    id: str
    patient: PatientRef
    scale: str
    items: dict[str, int] | None
    total: int
    band: str
    level: str
    mapping_version: str
    observed_at: datetime
    assessor: str
    recorded_by: str
    created_at: datetime

    @staticmethod
    def of(row: ScaleScoreRow) -> Score:
        return Score(
            id=row.id,
            patient=PatientRef(system=row.patient_system, value=row.patient_value, reference=row.patient_reference),
            scale=row.scale,
            items=row.items,
            total=row.total,
            band=row.band,
            level=row.level,
            mapping_version=row.mapping_version,
            observed_at=as_utc(row.observed_at),
            assessor=row.assessor,
            recorded_by=row.recorded_by,
            created_at=as_utc(row.created_at),
        )


class ScoreStore:
    """The scores of one tenant: another tenant's are indistinguishable from none."""

    def __init__(self, engine: AsyncEngine, tenant: str) -> None:
        self.engine = engine
        self.tenant = tenant

    async def add(self, score: ScoreInput, recorded_by: str, then: Callable[[AsyncConnection, Score], Awaitable[object]] | None = None) -> Score:
        """Store a score; ``then(connection, score)`` runs in the same transaction (its event and deliveries)."""
        now = datetime.now(UTC)
        row = ScaleScoreRow(
            id=str(uuid.uuid4()),
            tenant=self.tenant,
            patient_system=score.patient.system,
            patient_value=score.patient.value,
            patient_reference=score.patient.reference,
            scale=score.scale.id,
            items=score.items,
            total=score.total,
            band=score.band,
            level=score.level,
            mapping_version=score.mapping_version,
            observed_at=score.observed_at,
            assessor=score.assessor,
            recorded_by=recorded_by,
            created_at=now,
        )
        async with self.engine.begin() as connection:
            await connection.execute(ScaleScoreRow.__table__.insert().values(**{c.name: getattr(row, c.name) for c in ScaleScoreRow.__table__.columns}))
            await audit_record(connection, "create", "scale_score", row.id, patient=score.patient)
            if then is not None:
                await then(connection, Score.of(row))
        return Score.of(row)

    async def get(self, score_id: str) -> Score | None:
        query = select(ScaleScoreRow).where(ScaleScoreRow.tenant == self.tenant, ScaleScoreRow.id == score_id)
        async with read_only(self.engine).connect() as connection:
            row = (await connection.execute(query)).first()
        return None if row is None else Score.of(ScaleScoreRow(**row._mapping))

    async def search(
        self,
        scale: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        patient: PatientRef | None = None,
        limit: int = MAX_SCORES,
    ) -> list[Score]:
        """Scores oldest first; ``limit`` + 1 rows at most are read so a caller can tell it was cut."""
        conditions: list[Any] = [ScaleScoreRow.tenant == self.tenant]
        if scale is not None:
            conditions.append(ScaleScoreRow.scale == scale)
        if since is not None:
            conditions.append(ScaleScoreRow.observed_at >= since)
        if until is not None:
            conditions.append(ScaleScoreRow.observed_at < until)
        if patient is not None:
            for column, value in (
                (ScaleScoreRow.patient_system, patient.system),
                (ScaleScoreRow.patient_value, patient.value),
                (ScaleScoreRow.patient_reference, patient.reference),
            ):
                conditions.append(column == value if value is not None else column.is_(None))
        query = select(ScaleScoreRow).where(*conditions).order_by(ScaleScoreRow.observed_at, ScaleScoreRow.id).limit(limit + 1)
        async with read_only(self.engine).connect() as connection:
            rows = (await connection.execute(query)).all()
        return [Score.of(ScaleScoreRow(**r._mapping)) for r in rows]

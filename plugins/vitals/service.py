"""Vitals for one assessment: from the cache when read before, else from the FHIR server (then cached).

Only a successful read is cached (with the time it was read), so an EMR that was down is asked again
on the next view; a failure is a ``Vitals`` with ``status = "unavailable"`` and the reason, never an
exception, so the pages that show vitals always load.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import Assessment, as_utc, read_only
from plugins.vitals import VitalsSettings
from plugins.vitals.reader import Credentials, Reading, VitalsUnavailable, read_vitals
from plugins.vitals.tables import VitalsReadRow

NOTE = "Context only: vital signs are weak pain indicators and never change the AI's score (Shahiri & Gélinas, Pain Manag Nurs 2023, PMID 36781330)."


class Vitals(msgspec.Struct, frozen=True):
    """``status``: ``ok`` (read at ``read_at``), ``unavailable`` (``reason``) or ``not configured``."""

    assessment_id: str
    status: str
    window_minutes: float
    readings: list[Reading] = msgspec.field(default_factory=list)
    read_at: datetime | None = None
    reason: str = ""
    note: str = NOTE


class VitalsService:
    def __init__(self, config: VitalsSettings) -> None:
        self.config = config
        self.credentials = Credentials(config)

    async def cached(self, engine: AsyncEngine, tenant: str, assessment_id: str) -> Vitals | None:
        query = select(VitalsReadRow).where(VitalsReadRow.tenant == tenant, VitalsReadRow.assessment_id == assessment_id)
        async with read_only(engine).connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        readings = msgspec.convert(row._mapping["readings"], list[Reading])
        return Vitals(assessment_id, "ok", self.config.window_minutes, readings, as_utc(row._mapping["read_at"]))

    async def for_assessment(self, engine: AsyncEngine, assessment: Assessment) -> Vitals:
        if not self.config.fhir_base_url:
            return Vitals(assessment.id, "not configured", self.config.window_minutes, reason="no FHIR server is configured for vitals")
        found = await self.cached(engine, assessment.tenant, assessment.id)
        if found is not None:
            return found
        try:
            readings = await read_vitals(self.config, self.credentials, assessment.patient, assessment.effective_start, assessment.effective_end)
        except VitalsUnavailable as exc:
            return Vitals(assessment.id, "unavailable", self.config.window_minutes, reason=str(exc))
        now = datetime.now(UTC)
        row = {
            "tenant": assessment.tenant,
            "assessment_id": assessment.id,
            "source": self.config.fhir_base_url[:500],
            "read_at": now,
            "readings": msgspec.to_builtins(readings),
        }
        async with engine.begin() as connection:
            exists = (
                await connection.execute(
                    select(VitalsReadRow.tenant).where(VitalsReadRow.tenant == assessment.tenant, VitalsReadRow.assessment_id == assessment.id)
                )
            ).first()
            if exists is None:
                await connection.execute(VitalsReadRow.__table__.insert().values(**row))
        return Vitals(assessment.id, "ok", self.config.window_minutes, readings, now)

"""Scale scores on the patient's pain trajectory (``TrajectorySource``): "PAINAD 4/10", observed by a
clinician (never AI-asserted), with the level the site's mapping gives the total."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from fhir_mappings.scales import Scale
from gateway import PatientRef, TrajectoryEntry
from plugins.reference_scales.scores import ScoreStore

MAX_ENTRIES = 2000


class ScoreEntries:
    name = "reference_scales"

    def __init__(self, scales: dict[str, Scale]) -> None:
        self.scales = scales

    async def entries(self, tenant: str, patient: PatientRef, since: datetime, until: datetime, engine: AsyncEngine) -> list[TrajectoryEntry]:
        scores = await ScoreStore(engine, tenant).search(since=since, until=until, patient=patient, limit=MAX_ENTRIES)
        out = []
        for s in scores[:MAX_ENTRIES]:
            scale = self.scales.get(s.scale)
            name = scale.id.upper() if scale and len(scale.id) <= 6 else (scale.name if scale else s.scale)
            top = scale.total.max if scale else None
            out.append(
                TrajectoryEntry(
                    id=s.id,
                    at=s.observed_at,
                    kind="reference-scale",
                    label=f"{name} {s.total}/{top}" if top is not None else f"{name} {s.total}",
                    source=self.name,
                    level=s.level,
                    value=float(s.total),
                    unit="{score}",
                    ai_asserted=False,
                )
            )
        return out

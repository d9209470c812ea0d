"""Reviewed assessments as a training dataset (``gateway.pipeline.dataset``), labelled by the clinician.

Each reviewed assessment whose landmarks were kept (``gateway.storage.kept_landmarks``) becomes one clip:
every whole second labelled with the level of the review in force (the clinician's, whether they
confirmed or overrode the AI), so ``pain-gateway train`` / ``evaluate`` retrain a site's model on its
own reviewed data. ``patient_id`` is a pseudonym (an HMAC of the tenant and the patient under a random key
drawn for each export and never stored), never the identifier: splits stay by patient within the export
without the dataset naming anyone, and nobody — us included — can try identifiers against it. Clip names
are pseudonyms of the assessment ids the same way (an id would lead back to the patient through the API).
Clips are written one at a time, so memory stays that of one clip however many are exported.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import numpy as np
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.contract.domain import LEVELS
from gateway.pipeline.dataset import DatasetError, LabelledClip, save_clip
from gateway.storage import kept_landmarks
from gateway.storage.tables import AssessmentRow, ReviewRow


class ExportSummary(msgspec.Struct, frozen=True):
    """``written`` clips; reviewed assessments left out because their landmarks were not kept or
    were unusable (``skipped``, with why per assessment id)."""

    written: int
    skipped: dict[str, str]
    out: str


def pseudonym(key: bytes, *parts: str | None) -> str:
    return hmac.new(key, "|".join(part or "" for part in parts).encode(), hashlib.sha256).hexdigest()[:16]


async def reviewed(engine: AsyncEngine, tenant: str) -> AsyncIterator[tuple]:
    """The review in force of every reviewed assessment of ``tenant``, oldest review first (streamed)."""
    latest = and_(ReviewRow.assessment_id == AssessmentRow.id, ReviewRow.version == AssessmentRow.clinical_version)
    query = (
        select(
            AssessmentRow.id,
            AssessmentRow.patient_system,
            AssessmentRow.patient_value,
            AssessmentRow.patient_reference,
            ReviewRow.level,
            ReviewRow.ai_level,
            ReviewRow.decision,
            ReviewRow.model_id,
            ReviewRow.model_version,
            ReviewRow.reviewed_at,
        )
        .join(AssessmentRow, latest)
        .where(AssessmentRow.tenant == tenant, ReviewRow.tenant == tenant)
        .order_by(ReviewRow.reviewed_at, ReviewRow.id)
    )
    async with engine.connect() as connection:
        result = await connection.stream(query)
        async for row in result:
            yield row


async def export_reviewed(engine: AsyncEngine, tenant: str, data_dir: str, out: Path) -> ExportSummary:
    """Write one ``<pseudonym>.npz`` per exportable reviewed assessment into ``out``; ``skipped`` (for
    the exporting user, not in the dataset) names assessments by id."""
    out.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    written, skipped = 0, {}
    async for assessment_id, system, value, reference, level, ai_level, decision, model_id, model_version, reviewed_at in reviewed(engine, tenant):
        kept = kept_landmarks.load(data_dir, assessment_id)
        if kept is None:
            skipped[assessment_id] = "its landmarks were not kept"
            continue
        seconds = math.floor(len(kept.points) / kept.fps)
        clip = LabelledClip(
            landmarks=kept.points,
            fps=kept.fps,
            labels=np.full(seconds, LEVELS.index(level), dtype=np.int8),
            patient_id=pseudonym(key, "patient", tenant, system, value, reference),
            image_size=kept.image_size,
            metadata={
                "source": "clinician-review",
                "decision": decision,
                "clinician_level": level,
                "ai_level": ai_level,
                "model_id": model_id,
                "model_version": model_version,
                "reviewed_at": reviewed_at.isoformat(),
            },
        )
        try:
            save_clip(out / f"{pseudonym(key, 'assessment', tenant, assessment_id)}.npz", clip)
        except DatasetError as exc:
            skipped[assessment_id] = str(exc)
            continue
        written += 1
    return ExportSummary(written, skipped, str(out))

"""Personalised baselines: a patient's own neutral face, recorded once at rest.

Faces differ more between people than one face differs between rest and pain; a model trained on
landmarks relative to each patient's neutral face can use it (``Windows.baseline``). The core stores
the reference and hands it over; whether a model uses it is the model's business
(``ModelOutput.personalised``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import CursorResult, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from gateway.contract.domain import InputError, LandmarkClip, PatientRef
from gateway.pipeline.landmarks import normalise_frames
from gateway.storage.engine import read_only
from gateway.storage.tables import BaselineRow


def patient_key(patient: PatientRef, tenant: str) -> str:
    """Per tenant: two sites may use the same MRN for different people."""
    return f"{tenant}/" + (f"ref:{patient.reference}" if patient.reference else f"id:{patient.system}|{patient.value}")


def neutral_reference(frames: NDArray[Any]) -> NDArray[np.float64]:
    """(468, 2) mean of normalised frames (any leading axes); frames without a face are ignored."""
    frames = np.asarray(frames, dtype=np.float64)
    flat = frames.reshape(-1, *frames.shape[-2:])
    flat = flat[np.isfinite(flat).all(axis=(1, 2))]
    if len(flat) == 0:
        raise InputError("frames", "the neutral clip has no frame with a face")
    reference: NDArray[np.float64] = flat.mean(axis=0)
    return reference


def reference_from_clip(clip: LandmarkClip) -> tuple[NDArray[np.float64], int]:
    """The neutral reference of a clip and how many face frames it was averaged over."""
    normalised = normalise_frames(clip.points, clip.image_size)
    frames = int(np.isfinite(normalised).all(axis=(1, 2)).sum())
    return neutral_reference(normalised), frames


class BaselineStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.reads = async_sessionmaker(read_only(engine), expire_on_commit=False)

    async def put(self, patient: PatientRef, tenant: str, reference: NDArray[Any], frames: int) -> datetime:
        """Store (or replace) the patient's neutral reference."""
        now = datetime.now(UTC)
        values = {"reference": reference.round(6).tolist(), "frames": frames, "updated_at": now, "tenant": tenant}
        key = patient_key(patient, tenant)
        async with self.sessions() as session:
            # an UPDATE's result is a CursorResult: it has rowcount
            updated = cast("CursorResult[Any]", await session.execute(update(BaselineRow).where(BaselineRow.patient_key == key).values(**values)))
            if updated.rowcount == 0:
                session.add(BaselineRow(patient_key=key, **values))
            try:
                await session.commit()
            except IntegrityError:  # a concurrent first PUT for this patient inserted it: update instead
                await session.rollback()
                await session.execute(update(BaselineRow).where(BaselineRow.patient_key == key).values(**values))
                await session.commit()
        return now

    async def add_if_absent(self, patient: PatientRef, tenant: str, reference: NDArray[Any], frames: int) -> bool:
        """Store the patient's first neutral reference; False (nothing written) when one is stored already, even
        by a concurrent writer: the insert is the check."""
        values = {"reference": reference.round(6).tolist(), "frames": frames, "updated_at": datetime.now(UTC), "tenant": tenant}
        async with self.sessions() as session:
            session.add(BaselineRow(patient_key=patient_key(patient, tenant), **values))
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                return False
        return True

    async def get(self, patient: PatientRef, tenant: str) -> NDArray[np.float32] | None:
        async with self.reads() as session:
            row = await session.get(BaselineRow, patient_key(patient, tenant))
        return None if row is None else np.asarray(row.reference, dtype=np.float32)

"""The plugin's own table, in its own ``MetaData``: recorded reference-scale scores.

``migrations/`` (the ``reference_scales`` Alembic branch) creates it; a test compares the two. Each row
keeps the mapping version and the mapped level it was recorded under, so a later change of the site's
mapping never rewrites what a pair meant when it was collected.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """The reference_scales plugin's declarative base; ``Base.metadata`` holds its table only."""


class ScaleScoreRow(Base):
    """One clinician-recorded score on a reference scale (NRS, PAINAD...), tenant-scoped."""

    __tablename__ = "reference_scale_scores"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    patient_system: Mapped[str | None] = mapped_column(String(255))
    patient_value: Mapped[str | None] = mapped_column(String(255))
    patient_reference: Mapped[str | None] = mapped_column(String(255))
    scale: Mapped[str] = mapped_column(String(32))
    items: Mapped[dict | None] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    mapping_version: Mapped[str] = mapped_column(String(64))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    assessor: Mapped[str] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_reference_scale_scores_tenant_observed", "tenant", "observed_at"),
        Index("ix_reference_scale_scores_patient", "tenant", "patient_system", "patient_value"),
    )

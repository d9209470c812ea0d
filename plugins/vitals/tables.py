"""The plugin's own table: vitals read for an assessment, with the time they were read.

``migrations/`` (the ``vitals`` Alembic branch) creates it; a test compares the two.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """The vitals plugin's declarative base; ``Base.metadata`` holds its table only."""


class VitalsReadRow(Base):
    """The readings found around one assessment's capture (a successful read only: a failed one is retried)."""

    __tablename__ = "vitals_reads"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    assessment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    read_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    readings: Mapped[list] = mapped_column(JSON)

"""Table definitions. Assessments keep their full JSON document; indexed columns serve search."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AssessmentRow(Base):
    __tablename__ = "assessments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient_system: Mapped[str | None] = mapped_column(String(255))
    patient_value: Mapped[str | None] = mapped_column(String(255))
    patient_reference: Mapped[str | None] = mapped_column(String(255), index=True)
    effective_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    effective_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    model_id: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(50))
    level: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    document: Mapped[dict] = mapped_column(JSON)

    __table_args__ = (Index("ix_assessments_patient_identifier", "patient_system", "patient_value"),)


class OutputRow(Base):
    __tablename__ = "assessment_outputs"

    assessment_id: Mapped[str] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), primary_key=True)
    output: Mapped[str] = mapped_column(String(50), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # pending = SQL NULL, not JSON null
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SubmissionRow(Base):
    """The job state of one submission; the source of truth that job engines only trigger."""

    __tablename__ = "submissions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(50))
    request: Mapped[dict] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BaselineRow(Base):
    """A patient's neutral face (468 x 2, normalised) for personalised scoring."""

    __tablename__ = "patient_baselines"

    patient_key: Mapped[str] = mapped_column(String(520), primary_key=True)
    reference: Mapped[list] = mapped_column(JSON)
    frames: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

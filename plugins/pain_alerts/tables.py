"""The plugin's own tables, in its own ``MetaData`` (the ``pain_alerts`` Alembic branch creates them).

``pain_alert_checks`` keeps one row per check the rules look at (an assessment, or a live session's
significant stretch), indexed by patient and time, so evaluating the rules reads only the rules' window
however long the patient's history is. ``pain_alert_episodes`` holds each alert from opening to
closing; ``open_key`` is set only while an episode is open and is unique, so a patient never has two
open episodes of one rule, whichever worker evaluates. ``pain_alert_interventions`` holds treatments
recorded by clinicians, their reassessment due time and, once reassessed, what the pain did.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """The pain_alerts plugin's declarative base; ``Base.metadata`` holds its tables only."""


class CheckRow(Base):
    """A check of a patient's pain: ``level`` is the clinician's when reviewed, else the AI's (None: nothing scorable);
    ``worst`` the worst second's level."""

    __tablename__ = "pain_alert_checks"
    __table_args__ = (Index("ix_pain_alert_checks_patient_end", "tenant", "patient_key", "end"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    patient_key: Mapped[str] = mapped_column(String(400))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    level: Mapped[str | None] = mapped_column(String(20))
    worst: Mapped[str | None] = mapped_column(String(20))
    significant_p: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(20))


class EpisodeRow(Base):
    """An alert episode. ``derived_from`` lists the assessments it was computed from; ``model`` the model's
    id, version, name and checkpoint hash (the FHIR Device); ``closed_reason`` says why it closed."""

    __tablename__ = "pain_alert_episodes"
    __table_args__ = (Index("ix_pain_alert_episodes_patient", "tenant", "patient_key", "opened_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    patient_key: Mapped[str] = mapped_column(String(400))
    patient: Mapped[dict] = mapped_column(JSON)
    rule: Mapped[str] = mapped_column(String(20))
    open_key: Mapped[str | None] = mapped_column(String(500), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    first_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_reason: Mapped[str | None] = mapped_column(Text)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    derived_from: Mapped[list] = mapped_column(JSON)
    model: Mapped[dict] = mapped_column(JSON)
    max_probability: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict] = mapped_column(JSON)


class InterventionRow(Base):
    """An analgesic or non-drug intervention a clinician recorded; ``outcome`` (fell, unchanged, rose) with
    ``before_id`` and ``after_id``, the two checks it compares, once the reassessment came."""

    __tablename__ = "pain_alert_interventions"
    __table_args__ = (Index("ix_pain_alert_interventions_patient", "tenant", "patient_key", "given_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    patient_key: Mapped[str] = mapped_column(String(400))
    patient: Mapped[dict] = mapped_column(JSON)
    kind: Mapped[str] = mapped_column(String(20))
    route: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(500))
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(20))
    before_id: Mapped[str | None] = mapped_column(String(64))
    after_id: Mapped[str | None] = mapped_column(String(64))

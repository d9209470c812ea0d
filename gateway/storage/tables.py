"""Table definitions. Assessments keep their full JSON document; indexed columns serve search."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AssessmentRow(Base):
    __tablename__ = "assessments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
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
    # The latest review's outcome; the document keeps the AI result as scored (gateway.storage.reviews).
    clinical_status: Mapped[str] = mapped_column(String(20), server_default="preliminary")
    clinical_version: Mapped[int] = mapped_column(Integer, server_default="1")
    clinician_level: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (
        Index("ix_assessments_patient_identifier", "patient_system", "patient_value"),
        Index("ix_assessments_tenant_created", "tenant", "created_at", "id"),  # the listing's pages (migration 0012)
    )


class ReviewRow(Base):
    """A clinician's confirm or override of one assessment: append-only (the migration adds triggers
    refusing UPDATE and DELETE); ``version`` is the clinical version it produced (2, 3, ...)."""

    __tablename__ = "assessment_reviews"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    assessment_id: Mapped[str] = mapped_column(String(36), index=True)
    version: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(20))
    ai_level: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(40))
    comment: Mapped[str] = mapped_column(Text, server_default="")
    reviewer: Mapped[str] = mapped_column(String(100))
    reviewer_token: Mapped[str | None] = mapped_column(String(32))
    model_id: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(50))
    reviewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    __table_args__ = (UniqueConstraint("assessment_id", "version", name="uq_assessment_reviews_version"),)


class AssessmentAliasRow(Base):
    """Other names an output publishes an assessment under (e.g. a FHIR resource id), for lookup by that name.

    Derived data, filled by the output that owns ``scope`` (its base URL) and ``kind``: one alias may
    name several assessments of a tenant (one AI Device for every assessment of a model); one row is kept.
    """

    __tablename__ = "assessment_aliases"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    assessment_id: Mapped[str] = mapped_column(String(36), index=True)


class SubmissionRow(Base):
    """The job state of one submission; the source of truth that job engines only trigger."""

    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_tenant_created", "tenant", "created_at", "id"),)  # the listing's pages (migration 0012)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
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
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    reference: Mapped[list] = mapped_column(JSON)
    frames: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EventRow(Base):
    """A committed domain event (``assessment.completed`` ...): what the delivery ledger rows answer to."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(40))
    assessment_id: Mapped[str] = mapped_column(String(36), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)


class DeliveryRow(Base):
    """The delivery ledger: one row per (event, destination, target), written with the event.

    ``status``: pending (due at ``next_attempt_at``), sending (leased until ``lease_until``),
    retrying (an attempt failed, next one scheduled), delivered, dead (budget spent or refused for good).
    """

    __tablename__ = "deliveries"
    # a tenant's backlog (due or being sent) is counted on every submission: a range of this index
    __table_args__ = (Index("ix_deliveries_tenant_status_next_attempt", "tenant", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(40))
    assessment_id: Mapped[str] = mapped_column(String(36), index=True)
    destination: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryAttemptRow(Base):
    """Every attempt of a delivery: when, how long, what the receiver answered."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(20))
    status_code: Mapped[str | None] = mapped_column(String(20))
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)


class AuditEventRow(Base):
    """Who did what to which patient's data: append-only (the migration adds triggers refusing UPDATE
    and DELETE, so not even a bug or a stray SQL session can rewrite history)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    tenant: Mapped[str | None] = mapped_column(String(100), index=True)
    token_id: Mapped[str | None] = mapped_column(String(32), index=True)
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(30), index=True)
    resource_type: Mapped[str] = mapped_column(String(50))
    resource_id: Mapped[str | None] = mapped_column(String(200))
    patient: Mapped[str | None] = mapped_column(String(520), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    client_address: Mapped[str | None] = mapped_column(String(100))
    request_id: Mapped[str | None] = mapped_column(String(64))


class UISessionRow(Base):
    """A signed-in review UI session: the cookie holds a random secret, only its SHA-256 is kept.

    Server-side so that signing out (or revoking the token it was opened with) ends it at once.
    """

    __tablename__ = "ui_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    token_id: Mapped[str] = mapped_column(String(32), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class KeptLandmarksRow(Base):
    """One assessment's kept landmarks file (``gateway.storage.kept_landmarks``): its tenant and size on disk,
    written in the transaction that stores the assessment, so a tenant's storage is one indexed sum
    (``PAIN_GATEWAY_TENANT_MAX_STORAGE_MB``) and retention finds what to remove without walking the
    data directory. ``removed_at`` is set when retention (or an operator) deletes the file."""

    __tablename__ = "kept_landmarks"

    assessment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    bytes: Mapped[int] = mapped_column(Integer)
    kept_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

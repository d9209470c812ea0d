"""The plugin's own tables, in its own ``MetaData`` (``migrations/`` creates them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """The cds_hooks plugin's declarative base; ``Base.metadata`` holds its tables only."""


class SeenJwtRow(Base):
    """A client JWT's ``jti``, kept until the JWT expires: the same one again is a replay."""

    __tablename__ = "cds_hooks_seen_jwts"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of iss and jti
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class CardRow(Base):
    """A card the service returned: feedback names its ``uuid``, answered only for the same tenant."""

    __tablename__ = "cds_hooks_cards"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    assessment_id: Mapped[str] = mapped_column(String(36))
    patient: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FeedbackRow(Base):
    """What the clinician did with a card: ``accepted`` or ``overridden`` (with the reason)."""

    __tablename__ = "cds_hooks_feedback"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    card: Mapped[str] = mapped_column(String(36), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    override_reason: Mapped[str | None] = mapped_column(Text)
    user_comment: Mapped[str | None] = mapped_column(Text)
    outcome_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

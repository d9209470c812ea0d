"""The plugin's own table, in its own ``MetaData``: launches under way (``migrations/`` creates it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """The smart_launch plugin's declarative base; ``Base.metadata`` holds its tables only."""


class LaunchStateRow(Base):
    """A launch sent to the EMR's authorization server and not back yet. Keyed by the SHA-256 of its
    ``state`` (the state itself only travels in the browser); ``used_at`` is set by the one callback that
    may use it, so a replayed callback (the same code again) finds it spent."""

    __tablename__ = "smart_launch_states"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    iss: Mapped[str] = mapped_column(Text)
    code_verifier: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

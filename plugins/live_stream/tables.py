"""The live plugin's own tables, in its own ``MetaData``: the core knows nothing of them.

``migrations/`` (the ``live_stream`` Alembic branch, declared by ``register_migrations``) creates them; a
test compares the two, so a change here needs a revision there. Times are Unix seconds (floats): replicas
compare them with their own clocks, the same on one host and NTP-close across hosts.
"""

from __future__ import annotations

from sqlalchemy import JSON, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """The live plugin's declarative base; ``Base.metadata`` holds its tables only."""


class LiveSessionRow(Base):
    """An open, ending or ended live session and what a replica needs to resume it.

    ``status``: ``open`` → ``ending`` (one replica claimed the end; ``deadline`` bounds the claim, so a
    replica that dies while ending is taken over) → ``ended`` (``assessment_id`` or ``outcome``).
    ``deadline``: while open, when the session ends if nobody streams to it (its client's replica
    pushes it forward; an unused ticket holds it open until the ticket expires). ``taken`` counts
    the connections that took the session over: a replica's copy in memory is current only while
    the count is the one it set, and its writes carry it (a replica that lost the session writes nothing)."""

    __tablename__ = "live_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    patient: Mapped[dict] = mapped_column(JSON)
    image_size: Mapped[list | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    replica: Mapped[str | None] = mapped_column(String(100))
    taken: Mapped[int] = mapped_column(Integer, default=0)
    deadline: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    last_sequence: Mapped[int | None] = mapped_column(Integer)
    last_capture_ms: Mapped[float | None] = mapped_column(Float)
    first_capture_ms: Mapped[float | None] = mapped_column(Float)
    window_index: Mapped[int] = mapped_column(Integer, default=0)
    window_start_ms: Mapped[float | None] = mapped_column(Float)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    assessment_id: Mapped[str | None] = mapped_column(String(36))
    outcome: Mapped[str | None] = mapped_column(Text)


class LiveWindowRow(Base):
    """One scored second of a session: the result its client was sent, and the 30-frame grid (x, y float32)
    the session's assessment is built from. Deleted once the session has ended."""

    __tablename__ = "live_windows"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    window_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    start_ms: Mapped[float] = mapped_column(Float)
    frames: Mapped[int] = mapped_column(Integer)
    result: Mapped[dict] = mapped_column(JSON)
    grid: Mapped[bytes | None] = mapped_column(LargeBinary)


class LiveTicketRow(Base):
    """A single-use ticket to open a session's WebSocket, by its SHA-256 (the ticket itself is never stored).
    Kept after it expires (one a session, replaced by the next) so presenting it says it expired."""

    __tablename__ = "live_tickets"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(36), index=True)
    tenant: Mapped[str] = mapped_column(String(64))
    expires: Mapped[float] = mapped_column(Float)

"""The plugin's own table, in its own ``MetaData`` (never the gateway's); ``migrations/`` creates it."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Text

metadata = MetaData()

notes = Table(
    "example_notes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("assessment_id", String(36), nullable=False),  # no foreign key: the core's tables stay the core's
    Column("text", Text, nullable=False),
    Column("author", String(100)),  # the token's id, never a name
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_example_notes_tenant_assessment", "tenant", "assessment_id"),
)

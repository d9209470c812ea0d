"""Live sessions, their scored windows and tickets, in the database: any replica can resume a session
(first revision of the ``live_stream`` branch).

Revision ID: live_stream_0001
Revises: (none: the branch's root)
"""

import sqlalchemy as sa
from alembic import op

revision = "live_stream_0001"
down_revision = None
branch_labels = ("live_stream",)
depends_on = None  # no foreign key into the core's tables


def upgrade() -> None:
    op.create_table(
        "live_sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("patient", sa.JSON(), nullable=False),
        sa.Column("image_size", sa.JSON()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("replica", sa.String(100)),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_sequence", sa.Integer()),
        sa.Column("last_capture_ms", sa.Float()),
        sa.Column("first_capture_ms", sa.Float()),
        sa.Column("window_index", sa.Integer(), nullable=False),
        sa.Column("window_start_ms", sa.Float()),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.String(36)),
        sa.Column("outcome", sa.Text()),
    )
    op.create_index("ix_live_sessions_tenant", "live_sessions", ["tenant"])
    op.create_index("ix_live_sessions_status", "live_sessions", ["status"])
    op.create_table(
        "live_windows",
        sa.Column("session_id", sa.String(36), primary_key=True),
        sa.Column("window_no", sa.Integer(), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("start_ms", sa.Float(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("grid", sa.LargeBinary()),
    )
    op.create_table(
        "live_tickets",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
    )
    op.create_index("ix_live_tickets_session_id", "live_tickets", ["session_id"])


def downgrade() -> None:
    op.drop_table("live_tickets")
    op.drop_table("live_windows")
    op.drop_table("live_sessions")

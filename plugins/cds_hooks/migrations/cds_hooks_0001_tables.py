"""Seen JWT ids, issued cards and their feedback (first revision of the ``cds_hooks`` branch).

Revision ID: cds_hooks_0001
Revises: (none: the branch's root)
"""

import sqlalchemy as sa
from alembic import op

revision = "cds_hooks_0001"
down_revision = None
branch_labels = ("cds_hooks",)
depends_on = None  # no foreign key into the core's tables


def upgrade() -> None:
    op.create_table(
        "cds_hooks_seen_jwts",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cds_hooks_seen_jwts_expires_at", "cds_hooks_seen_jwts", ["expires_at"])
    op.create_table(
        "cds_hooks_cards",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("assessment_id", sa.String(36), nullable=False),
        sa.Column("patient", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cds_hooks_cards_tenant", "cds_hooks_cards", ["tenant"])
    op.create_table(
        "cds_hooks_feedback",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("card", sa.String(36), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("override_reason", sa.Text()),
        sa.Column("user_comment", sa.Text()),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cds_hooks_feedback_tenant", "cds_hooks_feedback", ["tenant"])
    op.create_index("ix_cds_hooks_feedback_card", "cds_hooks_feedback", ["card"])


def downgrade() -> None:
    op.drop_table("cds_hooks_feedback")
    op.drop_table("cds_hooks_cards")
    op.drop_table("cds_hooks_seen_jwts")

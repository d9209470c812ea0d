"""Kept landmarks accounted per tenant (``kept_landmarks``): the storage quota and the retention policy.

Files kept before this revision have no row: they count towards no quota, and retention finds them
through their assessment's ``created_at`` (``gateway.service.retention``).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kept_landmarks",
        sa.Column("assessment_id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False, index=True),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("kept_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("kept_landmarks")

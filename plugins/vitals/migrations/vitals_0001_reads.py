"""Vitals read per assessment (first revision of the ``vitals`` branch).

Revision ID: vitals_0001
Revises: (none: the branch's root)
"""

import sqlalchemy as sa
from alembic import op

revision = "vitals_0001"
down_revision = None
branch_labels = ("vitals",)
depends_on = None  # keyed by assessment id, without a foreign key: the cache outlives nothing it needs

TABLE = "vitals_reads"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("assessment_id", sa.String(36), primary_key=True),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("readings", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table(TABLE)

"""Reference-scale scores (first revision of the ``reference_scales`` branch).

Revision ID: reference_scales_0001
Revises: (none: the branch's root)
"""

import sqlalchemy as sa
from alembic import op

revision = "reference_scales_0001"
down_revision = None
branch_labels = ("reference_scales",)
depends_on = None  # no foreign key into the core's tables: pairs are found by patient and time

TABLE = "reference_scale_scores"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("patient_system", sa.String(255)),
        sa.Column("patient_value", sa.String(255)),
        sa.Column("patient_reference", sa.String(255)),
        sa.Column("scale", sa.String(32), nullable=False),
        sa.Column("items", sa.JSON()),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(64), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("mapping_version", sa.String(64), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assessor", sa.String(200), nullable=False),
        sa.Column("recorded_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reference_scale_scores_tenant_observed", TABLE, ["tenant", "observed_at"])
    op.create_index("ix_reference_scale_scores_patient", TABLE, ["tenant", "patient_system", "patient_value"])


def downgrade() -> None:
    op.drop_table(TABLE)

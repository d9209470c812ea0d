"""Assessments, their rendered outputs and hashed API tokens.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("patient_system", sa.String(255)),
        sa.Column("patient_value", sa.String(255)),
        sa.Column("patient_reference", sa.String(255)),
        sa.Column("effective_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model_id", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("level", sa.String(20)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
    )
    op.create_index("ix_assessments_patient_reference", "assessments", ["patient_reference"])
    op.create_index("ix_assessments_effective_start", "assessments", ["effective_start"])
    op.create_index("ix_assessments_patient_identifier", "assessments", ["patient_system", "patient_value"])
    op.create_table(
        "assessment_outputs",
        sa.Column("assessment_id", sa.String(36), sa.ForeignKey("assessments.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("output", sa.String(50), primary_key=True),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("body", sa.JSON()),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("assessment_outputs")
    op.drop_table("assessments")

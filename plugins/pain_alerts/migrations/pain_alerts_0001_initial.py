"""The pain_alerts plugin's tables: checks, episodes, interventions (first revision of its branch).

Revision ID: pain_alerts_0001
Revises: (none: the branch's root)
"""

import sqlalchemy as sa
from alembic import op

revision = "pain_alerts_0001"
down_revision = None
branch_labels = ("pain_alerts",)
depends_on = None  # no foreign key into the core's tables


def upgrade() -> None:
    op.create_table(
        "pain_alert_checks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("patient_key", sa.String(400), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(20)),
        sa.Column("worst", sa.String(20)),
        sa.Column("significant_p", sa.Float()),
        sa.Column("source", sa.String(20), nullable=False),
    )
    op.create_index("ix_pain_alert_checks_patient_end", "pain_alert_checks", ["tenant", "patient_key", "end"])
    op.create_table(
        "pain_alert_episodes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("patient_key", sa.String(400), nullable=False),
        sa.Column("patient", sa.JSON(), nullable=False),
        sa.Column("rule", sa.String(20), nullable=False),
        sa.Column("open_key", sa.String(500), unique=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("first_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("closed_reason", sa.Text()),
        sa.Column("acknowledged_by", sa.String(64)),
        sa.Column("derived_from", sa.JSON(), nullable=False),
        sa.Column("model", sa.JSON(), nullable=False),
        sa.Column("max_probability", sa.Float()),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_pain_alert_episodes_patient", "pain_alert_episodes", ["tenant", "patient_key", "opened_at"])
    op.create_index("ix_pain_alert_episodes_status", "pain_alert_episodes", ["status"])
    op.create_table(
        "pain_alert_interventions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("patient_key", sa.String(400), nullable=False),
        sa.Column("patient", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("route", sa.String(20)),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(20)),
        sa.Column("before_id", sa.String(64)),
        sa.Column("after_id", sa.String(64)),
    )
    op.create_index("ix_pain_alert_interventions_patient", "pain_alert_interventions", ["tenant", "patient_key", "given_at"])


def downgrade() -> None:
    op.drop_table("pain_alert_interventions")
    op.drop_table("pain_alert_episodes")
    op.drop_table("pain_alert_checks")

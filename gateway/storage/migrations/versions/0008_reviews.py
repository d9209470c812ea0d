"""Clinician reviews: an append-only ``assessment_reviews`` table and the clinical status of each
assessment apart from its job status.

``assessments.clinical_status`` / ``clinical_version`` / ``clinician_level`` point at the latest
review (``preliminary``, version 1, none until a clinician confirms or overrides); the reviews
themselves are never changed or removed (triggers refuse UPDATE and DELETE, as for the audit trail).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

REFUSE = "assessment_reviews is append-only"


def upgrade() -> None:
    with op.batch_alter_table("assessments") as batch:
        batch.add_column(sa.Column("clinical_status", sa.String(20), nullable=False, server_default="preliminary"))
        batch.add_column(sa.Column("clinical_version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("clinician_level", sa.String(20)))
    op.create_table(
        "assessment_reviews",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False, index=True),
        sa.Column("assessment_id", sa.String(36), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("ai_level", sa.String(20)),
        sa.Column("reason", sa.String(40)),
        sa.Column("comment", sa.Text(), nullable=False, server_default=""),
        sa.Column("reviewer", sa.String(100), nullable=False),
        sa.Column("reviewer_token", sa.String(32)),
        sa.Column("model_id", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.UniqueConstraint("assessment_id", "version", name="uq_assessment_reviews_version"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION assessment_reviews_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{REFUSE}'; END $$""")
        op.execute(
            "CREATE TRIGGER assessment_reviews_no_change BEFORE UPDATE OR DELETE ON assessment_reviews "
            "FOR EACH ROW EXECUTE FUNCTION assessment_reviews_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER assessment_reviews_no_{verb.lower()} BEFORE {verb} ON assessment_reviews BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END")


def downgrade() -> None:
    op.drop_table("assessment_reviews")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION assessment_reviews_append_only()")
    with op.batch_alter_table("assessments") as batch:
        batch.drop_column("clinician_level")
        batch.drop_column("clinical_version")
        batch.drop_column("clinical_status")

"""The example plugin's notes table.

Revision ID: example_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "example_0001"
down_revision = None
branch_labels = ("example_notes",)  # the plugin's name: its own branch of the gateway's history
depends_on = None


def upgrade() -> None:
    op.create_table(
        "example_notes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("assessment_id", sa.String(36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_example_notes_tenant_assessment", "example_notes", ["tenant", "assessment_id"])


def downgrade() -> None:
    op.drop_index("ix_example_notes_tenant_assessment", table_name="example_notes")
    op.drop_table("example_notes")

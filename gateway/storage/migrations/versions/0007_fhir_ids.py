"""Alias ids for assessments (``assessment_aliases``): FHIR reads look resources up by their own id.

The FHIR plugin's resource ids are UUIDv5 of the assessment id under its configured base URL, which
a migration does not know; so the table starts empty and the plugin fills it for rows it has not
indexed yet the first time a read misses (an indexed anti-join: existing rows are backfilled once).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessment_aliases",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(40), primary_key=True),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("assessment_id", sa.String(36), nullable=False),
    )
    op.create_index("ix_assessment_aliases_assessment_id", "assessment_aliases", ["assessment_id"])


def downgrade() -> None:
    op.drop_index("ix_assessment_aliases_assessment_id", "assessment_aliases")
    op.drop_table("assessment_aliases")

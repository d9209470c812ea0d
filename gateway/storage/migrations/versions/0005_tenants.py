"""Tenants on every row a caller owns.

Existing tokens and data move to the ``default`` tenant; baselines are keyed per tenant.
(``webhook_endpoints`` got its tenant here too; the webhooks plugin's branch now owns that table.)

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TENANT_TABLES = ("api_tokens", "assessments", "submissions", "patient_baselines", "events", "deliveries")


def upgrade() -> None:
    for table in TENANT_TABLES:
        op.add_column(table, sa.Column("tenant", sa.String(64), nullable=False, server_default="default"))
        op.create_index(f"ix_{table}_tenant", table, ["tenant"])
    op.execute("UPDATE patient_baselines SET patient_key = 'default/' || patient_key")


def downgrade() -> None:
    op.execute("UPDATE patient_baselines SET patient_key = substr(patient_key, length('default/') + 1) WHERE patient_key LIKE 'default/%'")
    for table in TENANT_TABLES:
        op.drop_index(f"ix_{table}_tenant", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("tenant")

"""A tenant's delivery backlog is counted on every submission (``PAIN_GATEWAY_TENANT_MAX_PENDING_DELIVERIES``):
an index on (tenant, status, next_attempt_at) makes that count a range scan.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_tenant_status_next_attempt", "deliveries", ["tenant", "status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_tenant_status_next_attempt", table_name="deliveries")

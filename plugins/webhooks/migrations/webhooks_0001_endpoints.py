"""Webhook endpoints, now the webhooks plugin's own table (first revision of the ``webhooks`` branch).

The core's revisions 0004 and 0005 used to create ``webhook_endpoints`` and add its ``tenant``, so a
database migrated before the table moved here already has it, with its rows: then this revision only
records itself (and adds ``tenant`` should the database have stopped between the old 0004 and 0005).
A fresh database gets the table in its final shape, exactly as the old history left it.

Revision ID: webhooks_0001
Revises: (none: the branch's root)
"""

import sqlalchemy as sa
from alembic import op

revision = "webhooks_0001"
down_revision = None
branch_labels = ("webhooks",)
depends_on = None  # no foreign key into the core's tables

TABLE = "webhook_endpoints"


def _tenant() -> sa.Column:
    return sa.Column("tenant", sa.String(64), nullable=False, server_default="default")


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table(TABLE):
        op.create_table(
            TABLE,
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("url", sa.Text(), nullable=False),
            sa.Column("events", sa.JSON(), nullable=False),
            sa.Column("description", sa.String(500), nullable=False, server_default=""),
            sa.Column("secret", sa.String(200), nullable=False),
            sa.Column("previous_secret", sa.String(200)),
            sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True)),
            sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
            sa.Column("disabled_reason", sa.Text()),
            sa.Column("created_by", sa.String(32)),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            _tenant(),
        )
        op.create_index(f"ix_{TABLE}_tenant", TABLE, ["tenant"])
    elif "tenant" not in {column["name"] for column in inspector.get_columns(TABLE)}:
        op.add_column(TABLE, _tenant())
        op.create_index(f"ix_{TABLE}_tenant", TABLE, ["tenant"])


def downgrade() -> None:
    op.drop_table(TABLE)

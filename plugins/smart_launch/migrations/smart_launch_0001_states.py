"""SMART launches under way (first revision of the ``smart_launch`` branch).

Revision ID: smart_launch_0001
Revises: (none: the branch's root)
"""

import sqlalchemy as sa
from alembic import op

revision = "smart_launch_0001"
down_revision = None
branch_labels = ("smart_launch",)
depends_on = None  # no foreign key into the core's tables


def upgrade() -> None:
    op.create_table(
        "smart_launch_states",
        sa.Column("state_hash", sa.String(64), primary_key=True),
        sa.Column("iss", sa.Text(), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_smart_launch_states_created_at", "smart_launch_states", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_smart_launch_states_created_at", "smart_launch_states")
    op.drop_table("smart_launch_states")

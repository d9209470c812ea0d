"""Audit trail and token expiry: an append-only ``audit_events`` table, ``api_tokens.expires_at``.

Append-only is enforced by the database (triggers refusing UPDATE, DELETE and, on PostgreSQL,
TRUNCATE), not only by the application offering no such method. A retention purge is a deliberate
operator action: drop the trigger, delete, recreate it.

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

REFUSE = "audit_events is append-only"


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("tenant", sa.String(100), index=True),
        sa.Column("token_id", sa.String(32), index=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("action", sa.String(30), nullable=False, index=True),
        sa.Column("resource_type", sa.String(50), nullable=False),
        sa.Column("resource_id", sa.String(200)),
        sa.Column("patient", sa.String(520), index=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("client_address", sa.String(100)),
        sa.Column("request_id", sa.String(64)),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{REFUSE}'; END $$""")
        op.execute("CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()")
        op.execute("CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END")


def downgrade() -> None:
    op.drop_table("audit_events")  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_events_append_only()")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")

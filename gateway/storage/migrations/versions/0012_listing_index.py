"""``GET /v1/assessments`` lists a tenant's assessments and unfinished video jobs newest received first, a
page at a time from a cursor (the last item's received time and id): an index on (tenant, created_at, id)
in each table makes every page one range scan, however long the tenant's history.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_assessments_tenant_created", "assessments", ["tenant", "created_at", "id"])
    op.create_index("ix_submissions_tenant_created", "submissions", ["tenant", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_submissions_tenant_created", table_name="submissions")
    op.drop_index("ix_assessments_tenant_created", table_name="assessments")

"""when each request last changed, and the indexes of the catch-ups after a lost event

`requests.updated_at` is set by every transition; existing rows get their latest known time.
The column stays nullable: making it NOT NULL would copy the table on SQLite (see 0005) for a
column the repository always writes.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.tables

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(
            sa.Column("updated_at", persistence.tables.UtcDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE requests SET updated_at = COALESCE(closed_at, accepted_at, assigned_at, created_at)")
    op.create_index("ix_requests_updated", "requests", ["updated_at", "id"])
    op.create_index("ix_requests_counsellor_assigned", "requests", ["counsellor_id", "assigned_at"])
    op.create_index("ix_primary_changes_changed", "primary_counsellor_changes", ["changed_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_primary_changes_changed", "primary_counsellor_changes")
    op.drop_index("ix_requests_counsellor_assigned", "requests")
    op.drop_index("ix_requests_updated", "requests")
    # On SQLite batch mode copies `requests`, which foreign key enforcement refuses while rows of
    # request_handlers refer to it: they step aside in a temporary table (as in 0005).
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE saved_request_handlers AS SELECT * FROM request_handlers")
        op.execute("DELETE FROM request_handlers")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("updated_at")
    if sqlite:
        op.execute(
            "INSERT INTO request_handlers (request_id, counsellor_id)"
            " SELECT request_id, counsellor_id FROM saved_request_handlers"
        )
        op.execute("DROP TABLE saved_request_handlers")

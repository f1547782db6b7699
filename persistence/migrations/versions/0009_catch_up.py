"""when each request last changed, and the indexes of the catch-ups after a lost event

`requests.updated_at` is set by every transition; existing rows get their latest known time.
The column stays nullable: making it NOT NULL would copy the table on SQLite (see 0005) for a
column the repository always writes.

Revision ID: 0009
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.tables

revision: str = "0009"
down_revision: str | None = "0005"
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
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("updated_at")

"""the encrypted subject gets a column its longest stored form fits

A subject of 200 characters, encrypted, takes up to 1107 characters (persistence.crypto.stored_length):
4 UTF-8 bytes a character, nonce and tag, base64 and prefix. Every other column of user text
already fits its limit. The numbers are frozen here; tests/integration/test_column_lengths.py checks
the migrated columns against the current limits.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _subject_length(200, 1107)


def downgrade() -> None:
    # Fails on PostgreSQL rather than cutting off a stored subject that no longer fits.
    _subject_length(1107, 200)


def _subject_length(old: int, new: int) -> None:
    """On SQLite batch mode copies `requests` and drops the original, which foreign key enforcement
    refuses while rows of request_handlers refer to it: they step aside in a temporary table."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE saved_request_handlers AS SELECT * FROM request_handlers")
        op.execute("DELETE FROM request_handlers")
    with op.batch_alter_table("requests") as batch:
        batch.alter_column(
            "subject", existing_type=sa.String(old), type_=sa.String(new), existing_nullable=True
        )
    if sqlite:
        op.execute(
            "INSERT INTO request_handlers (request_id, counsellor_id)"
            " SELECT request_id, counsellor_id FROM saved_request_handlers"
        )
        op.execute("DROP TABLE saved_request_handlers")

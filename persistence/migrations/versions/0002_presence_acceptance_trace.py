"""presence, acceptance, exclusions and the routing trace

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    _fill_search_text()
    with op.batch_alter_table("counsellors") as batch:
        batch.add_column(
            sa.Column("last_seen_at", persistence.tables.UtcDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("requests") as batch:
        batch.add_column(
            sa.Column("accepted_at", persistence.tables.UtcDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("excluded_ids", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("set_primary", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("trace", sa.JSON(), nullable=False, server_default="[]"))
        batch.create_index("ix_requests_unaccepted", ["status", "accepted_at", "assigned_at"])
    with op.batch_alter_table("settings") as batch:
        batch.add_column(
            sa.Column("presence_timeout_seconds", sa.Integer(), nullable=False, server_default="60")
        )
        batch.add_column(sa.Column("accept_timeout_seconds", sa.Integer(), nullable=True))


def _fill_search_text() -> None:
    clients = sa.table(
        "clients",
        *(
            sa.column(c)
            for c in ("id", "display_name", "email", "first_name", "last_name", "client_code", "search_text")
        ),
    )
    bind = op.get_bind()
    for row in bind.execute(sa.select(clients)).mappings().all():
        parts = (row["display_name"], row["email"], row["first_name"], row["last_name"], row["client_code"])
        text = " ".join(p for p in parts if p).casefold()
        bind.execute(sa.update(clients).where(clients.c.id == row["id"]).values(search_text=text))


def downgrade() -> None:
    with op.batch_alter_table("settings") as batch:
        batch.drop_column("accept_timeout_seconds")
        batch.drop_column("presence_timeout_seconds")
    with op.batch_alter_table("requests") as batch:
        batch.drop_index("ix_requests_unaccepted")
        batch.drop_column("trace")
        batch.drop_column("set_primary")
        batch.drop_column("excluded_ids")
        batch.drop_column("accepted_at")
    with op.batch_alter_table("counsellors") as batch:
        batch.drop_column("last_seen_at")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("search_text")

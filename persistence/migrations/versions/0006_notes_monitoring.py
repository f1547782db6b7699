"""the client folder: notes, the monitoring catalogue and documented contacts

Note texts and the outcome and note of a contact are encrypted (persistence.crypto): an outcome of
500 characters takes up to 2707 characters stored; the texts of up to 20,000 characters go to Text.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.tables

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UtcDateTime = persistence.tables.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_notes_client_id_clients")),
        sa.ForeignKeyConstraint(
            ["author_id"], ["counsellors.id"], name=op.f("fk_notes_author_id_counsellors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    op.create_index("ix_notes_client", "notes", ["client_id", "id"])
    op.create_table(
        "monitoring_topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["monitoring_topics.id"],
            name=op.f("fk_monitoring_topics_parent_id_monitoring_topics"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_topics")),
    )
    op.create_table(
        "monitoring_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("counsellor_id", sa.Integer(), nullable=True),
        sa.Column("contact_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=2707), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("duration_minutes > 0", name=op.f("ck_monitoring_entries_duration")),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_monitoring_entries_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["counsellor_id"],
            ["counsellors.id"],
            name=op.f("fk_monitoring_entries_counsellor_id_counsellors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_entries")),
    )
    op.create_index("ix_monitoring_entries_client", "monitoring_entries", ["client_id", "contact_at", "id"])
    op.create_index("ix_monitoring_entries_contact", "monitoring_entries", ["contact_at"])
    op.create_table(
        "monitoring_entry_topics",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["monitoring_entries.id"],
            name=op.f("fk_monitoring_entry_topics_entry_id_monitoring_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["monitoring_topics.id"],
            name=op.f("fk_monitoring_entry_topics_topic_id_monitoring_topics"),
        ),
        sa.PrimaryKeyConstraint("entry_id", "topic_id", name=op.f("pk_monitoring_entry_topics")),
    )
    op.create_index("ix_monitoring_entry_topics_topic", "monitoring_entry_topics", ["topic_id", "entry_id"])


def downgrade() -> None:
    op.drop_index("ix_monitoring_entry_topics_topic", table_name="monitoring_entry_topics")
    op.drop_table("monitoring_entry_topics")
    op.drop_index("ix_monitoring_entries_contact", table_name="monitoring_entries")
    op.drop_index("ix_monitoring_entries_client", table_name="monitoring_entries")
    op.drop_table("monitoring_entries")
    op.drop_table("monitoring_topics")
    op.drop_index("ix_notes_client", table_name="notes")
    op.drop_table("notes")

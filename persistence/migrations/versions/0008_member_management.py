"""member management: invitations, the mail outbox, blocking and deletion, last logins

Counsellors get an invitation status (existing ones have a password: REGISTERED) and a last
login; clients a deletion time and when their data is due for erasure; invitations keep only the
SHA-256 of their token; the mail outbox holds mails until the sender has sent them.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.tables

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("counsellors") as batch:
        batch.add_column(
            sa.Column("invitation_status", sa.String(length=16), nullable=False, server_default="REGISTERED")
        )
        batch.add_column(sa.Column("last_login_at", persistence.tables.UtcDateTime(timezone=True)))
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("deleted_at", persistence.tables.UtcDateTime(timezone=True)))
        batch.add_column(sa.Column("erasure_due_at", persistence.tables.UtcDateTime(timezone=True)))
    op.create_index("ix_clients_last_login", "clients", ["last_login_at", "id"])
    op.create_index("ix_clients_erasure_due", "clients", ["erasure_due_at"])
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("counsellor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", persistence.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", persistence.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("used_at", persistence.tables.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_invitations_client_id_clients")),
        sa.ForeignKeyConstraint(
            ["counsellor_id"], ["counsellors.id"], name=op.f("fk_invitations_counsellor_id_counsellors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index("ix_invitations_client", "invitations", ["client_id"])
    op.create_index("ix_invitations_counsellor", "invitations", ["counsellor_id"])
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("created_at", persistence.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", persistence.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("claim", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", persistence.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", persistence.tables.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_mail_outbox_client_id_clients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
    )
    op.create_index("ix_mail_outbox_due", "mail_outbox", ["sent_at", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_mail_outbox_due", table_name="mail_outbox")
    op.drop_table("mail_outbox")
    op.drop_index("ix_invitations_counsellor", table_name="invitations")
    op.drop_index("ix_invitations_client", table_name="invitations")
    op.drop_table("invitations")
    op.drop_index("ix_clients_erasure_due", table_name="clients")
    op.drop_index("ix_clients_last_login", table_name="clients")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("erasure_due_at")
        batch.drop_column("deleted_at")
    with op.batch_alter_table("counsellors") as batch:
        batch.drop_column("last_login_at")
        batch.drop_column("invitation_status")

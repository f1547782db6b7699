"""documents in a client's folder: metadata rows (the files live in the blob store)

The file name is encrypted like a request subject: 200 characters take up to 1107 stored.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import persistence.tables

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=1107), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", persistence.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("blob_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_documents_client_id_clients")),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["counsellors.id"], name=op.f("fk_documents_uploaded_by_id_counsellors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("blob_key", name=op.f("uq_documents_blob_key")),
    )
    op.create_index("ix_documents_client", "documents", ["client_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_documents_client", table_name="documents")
    op.drop_table("documents")

"""the settings row exists from the start, so changes can lock it

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

settings = sa.table(
    "settings",
    sa.column("id", sa.Integer()),
    sa.column("primary_chat_wait_seconds", sa.Integer()),
    sa.column("presence_timeout_seconds", sa.Integer()),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.select(settings.c.id).where(settings.c.id == 1)).first() is None:
        op.execute(settings.insert().values(id=1, primary_chat_wait_seconds=0, presence_timeout_seconds=60))


def downgrade() -> None:
    pass

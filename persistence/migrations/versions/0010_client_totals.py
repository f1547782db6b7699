"""the number of clients in a counter table kept by triggers, for the admin's client overview

`client_totals` holds one row per slot (slot = client id % 16); a trigger on `clients` adds 1 to
the row of an inserted client's slot and takes 1 from a deleted one's, with a targeted UPDATE, so
concurrent inserts of different slots do not wait for each other. The sum of `n` equals
count(*) of `clients` in every snapshot, as the triggers run in the transaction of the change.

On PostgreSQL CREATE TRIGGER locks `clients` against writes until this migration commits, so the
backfill counts exactly the rows the triggers will not see. On SQLite a later batch migration of
`clients` (which copies the table and drops the old one) drops these triggers too: it has to
create them again.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = 16

POSTGRES_FUNCTION = f"""
CREATE FUNCTION client_totals_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE client_totals SET n = n + 1 WHERE slot = NEW.id % {SLOTS};
    ELSE
        UPDATE client_totals SET n = n - 1 WHERE slot = OLD.id % {SLOTS};
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    totals = op.create_table(
        "client_totals",
        sa.Column("slot", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n", sa.Integer, nullable=False),
    )
    op.bulk_insert(totals, [{"slot": slot, "n": 0} for slot in range(SLOTS)])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER clients_counted AFTER INSERT OR DELETE ON clients"
            " FOR EACH ROW EXECUTE FUNCTION client_totals_count()"
        )
    else:
        op.execute(
            "CREATE TRIGGER clients_counted_insert AFTER INSERT ON clients BEGIN"
            f" UPDATE client_totals SET n = n + 1 WHERE slot = NEW.id % {SLOTS}; END"
        )
        op.execute(
            "CREATE TRIGGER clients_counted_delete AFTER DELETE ON clients BEGIN"
            f" UPDATE client_totals SET n = n - 1 WHERE slot = OLD.id % {SLOTS}; END"
        )
    op.execute(
        "UPDATE client_totals SET n = (SELECT count(*) FROM clients WHERE clients.id % "
        f"{SLOTS} = client_totals.slot)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER clients_counted ON clients")
        op.execute("DROP FUNCTION client_totals_count()")
    else:
        op.execute("DROP TRIGGER clients_counted_insert")
        op.execute("DROP TRIGGER clients_counted_delete")
    op.drop_table("client_totals")

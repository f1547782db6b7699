"""The benchmark's own PostgreSQL database: created fresh, migrated, seeded with SQL, dropped at the end.

Accounts are written with plain SQL (COPY) rather than through the API: argon2 for thousands of
accounts would take minutes, and nobody logs in (tokens are signed with the shared secret).
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from persistence.database import create_engines
from persistence.migrate import migrate

_ALPHABET = string.digits + string.ascii_uppercase
_FIRST = ("Anna", "Ben", "Cem", "Dana", "Elif", "Finn", "Greta", "Hamid", "Ida", "Jonas", "Kim", "Lea")
_LAST = ("Arslan", "Berger", "Costa", "Demir", "Engel", "Fischer", "Graf", "Huber", "Ivanova", "Jung")
# A sentinel password hash: nobody signs in during the benchmark.
NO_PASSWORD = "bench-no-login"


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def code_of(number: int) -> str:
    """A unique six-character client code for `number` (base 36, zero-padded)."""
    digits = []
    for _ in range(6):
        number, rest = divmod(number, 36)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits))


@dataclass
class BenchDatabase:
    """A fresh database `stamm_bench_<random>` on the server of `base_url`."""

    base_url: str
    name: str = ""
    pool: asyncpg.Pool | None = None
    _client_number: int = 0
    # Set when the schema has session presence (counsellors.last_seen_at): ONLINE needs signs of life.
    has_presence: bool = False

    @property
    def url(self) -> str:
        return make_url(self.base_url).set(database=self.name).render_as_string(hide_password=False)

    async def create(self) -> None:
        self.name = f"stamm_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(asyncpg_dsn(self.base_url))
        try:
            await admin.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await admin.close()
        engines = create_engines(self.url)
        try:
            await migrate(engines.write)
        finally:
            await engines.dispose()
        self.pool = await asyncpg.create_pool(asyncpg_dsn(self.url), min_size=1, max_size=4)
        await self._settle_presence()

    async def _settle_presence(self) -> None:
        """If the schema lapses silent counsellors to OFFLINE, make the timeout a day.

        Nobody holds a session open during the benchmark: counsellors are put ONLINE in SQL and
        would otherwise go OFFLINE within a minute (or at once, never having been seen).
        """
        columns = await self.fetch(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        )
        found = {(r["table_name"], r["column_name"]) for r in columns}
        self.has_presence = ("counsellors", "last_seen_at") in found
        if ("settings", "presence_timeout_seconds") in found:
            await self.execute(
                """
                INSERT INTO settings (id, primary_chat_wait_seconds, presence_timeout_seconds)
                VALUES (1, 0, 86400)
                ON CONFLICT (id) DO UPDATE SET presence_timeout_seconds = 86400
                """
            )

    async def drop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        if not self.name:
            return
        admin = await asyncpg.connect(asyncpg_dsn(self.base_url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await admin.close()

    async def execute(self, sql: str, *args: Any) -> str:
        assert self.pool is not None
        result: str = await self.pool.execute(sql, *args)
        return result

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        assert self.pool is not None
        found: list[asyncpg.Record] = await self.pool.fetch(sql, *args)
        return found

    async def fetchval(self, sql: str, *args: Any) -> Any:
        assert self.pool is not None
        return await self.pool.fetchval(sql, *args)

    async def server_version(self) -> str:
        return str(await self.fetchval("SHOW server_version"))

    # Seeding ----------------------------------------------------------------------------------

    async def add_counsellors(
        self,
        prefix: str,
        count: int,
        *,
        role: str = "COUNSELLOR",
        online: bool = False,
        chat_capacity: int = 1,
    ) -> list[int]:
        """`count` counsellors (mail NONE, not absent), oldest first; their ids in creation order."""
        assert self.pool is not None
        start = datetime.now(UTC) - timedelta(days=30)
        records = []
        for i in range(count):
            name = f"{prefix.title()} {_FIRST[i % len(_FIRST)]} {i:05}"
            records.append(
                (
                    f"{prefix}-{i}@bench.stamm",
                    NO_PASSWORD,
                    name,
                    name.casefold(),
                    role,
                    True,
                    "ONLINE" if online else "OFFLINE",
                    chat_capacity,
                    0,
                    "NONE",
                    0,
                    0,
                    False,
                    False,
                    start + timedelta(seconds=i),
                )
            )
        columns = [
            "email",
            "password_hash",
            "display_name",
            "sort_name",
            "role",
            "active",
            "online_status",
            "chat_capacity",
            "active_chat_count",
            "mail_availability",
            "mail_resources",
            "open_mail_count",
            "absent",
            "only_own_clients",
            "created_at",
        ]
        return await self._copy_returning_ids("counsellors", columns, records)

    async def add_clients(
        self, count: int, primaries: Sequence[int] = (), label: str = "Client"
    ) -> list[int]:
        """`count` clients (NO_ACCESS, ACTIVE), primaries round-robin from `primaries` (none if empty)."""
        start = datetime.now(UTC) - timedelta(days=10)
        records = []
        for i in range(count):
            self._client_number += 1
            number = self._client_number
            name = f"{_LAST[(number * 7) % len(_LAST)]} {_FIRST[number % len(_FIRST)]} {label} {number:06}"
            primary = primaries[i % len(primaries)] if primaries else None
            records.append(
                (
                    code_of(number),
                    name,
                    name.casefold(),
                    "NO_ACCESS",
                    "ACTIVE",
                    start + timedelta(milliseconds=number),
                    primary,
                )
            )
        columns = [
            "client_code",
            "display_name",
            "sort_name",
            "invitation_status",
            "account_status",
            "created_at",
            "primary_counsellor_id",
        ]
        ids = await self._copy_returning_ids("clients", columns, records)
        if primaries:
            # Each primary gets its history entry, as if an admin had set it.
            await self.execute(
                """
                INSERT INTO primary_counsellor_changes (client_id, new_counsellor_id, source, changed_at)
                SELECT id, primary_counsellor_id, 'MANUAL', created_at FROM clients
                WHERE id = ANY($1::int[]) AND primary_counsellor_id IS NOT NULL
                """,
                ids,
            )
        return ids

    async def _copy_returning_ids(
        self, table: str, columns: list[str], records: list[tuple[Any, ...]]
    ) -> list[int]:
        """COPY the rows in; their ids, in the order given (one connection, so ids are contiguous)."""
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            before = await conn.fetchval(f"SELECT coalesce(max(id), 0) FROM {table}")
            await conn.copy_records_to_table(table, records=records, columns=columns)
            rows = await conn.fetch(f"SELECT id FROM {table} WHERE id > $1 ORDER BY id", before)
        ids = [r["id"] for r in rows]
        assert len(ids) == len(records), (table, len(ids), len(records))
        return ids

    # Routing state ----------------------------------------------------------------------------

    async def set_online(self, online_ids: Sequence[int], capacity: int) -> None:
        """Exactly `online_ids` ONLINE with `capacity` chat slots; everyone else OFFLINE."""
        if self.has_presence:
            await self.execute(
                "UPDATE counsellors SET last_seen_at = now() WHERE id = ANY($1::int[])", list(online_ids)
            )
        await self.execute(
            """
            UPDATE counsellors SET
              online_status = CASE WHEN id = ANY($1::int[]) THEN 'ONLINE' ELSE 'OFFLINE' END,
              chat_capacity = CASE WHEN id = ANY($1::int[]) THEN $2 ELSE chat_capacity END
            """,
            list(online_ids),
            capacity,
        )

    async def reset_load(self) -> None:
        """Close every open request and zero every load, so each run starts from the same state."""
        await self.execute(
            "UPDATE requests SET status = 'CLOSED', closed_at = now() WHERE status IN ('ASSIGNED', 'QUEUED')"
        )
        await self.execute(
            """
            UPDATE counsellors SET active_chat_count = 0, open_mail_count = 0,
              last_chat_assigned_at = NULL, last_mail_assigned_at = NULL
            WHERE active_chat_count <> 0 OR open_mail_count <> 0
              OR last_chat_assigned_at IS NOT NULL OR last_mail_assigned_at IS NOT NULL
            """
        )
        await self.analyze()

    async def analyze(self) -> None:
        await self.execute("ANALYZE")

    async def vacuum(self) -> None:
        """After seeding: what autovacuum does to a live database within a minute of such a load
        (it is off on the development server). Without it no index-only scan is possible: a
        counsellor's count of 1,000 clients reads 1,000 heap pages. Then a checkpoint, as the
        server would make soon after: the load's dirty pages written now, not during the first
        phase's measurements."""
        await self.execute("VACUUM ANALYZE")
        await self.execute("CHECKPOINT")

    async def status_counts(self, since_id: int) -> dict[str, int]:
        rows = await self.fetch(
            "SELECT status, count(*) AS n FROM requests WHERE id > $1 GROUP BY status", since_id
        )
        return {r["status"]: r["n"] for r in rows}

    async def max_request_id(self) -> int:
        return int(await self.fetchval("SELECT coalesce(max(id), 0) FROM requests"))

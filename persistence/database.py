"""Engines: SQLite (embedded default) and PostgreSQL, with the transaction modes routing needs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# aiosqlite logs every call with its SQL parameters (e-mails, names) at DEBUG.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

SQLITE_BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 3
COMMAND_TIMEOUT_S = 30


@dataclass(frozen=True)
class Engines:
    """A writer and a reader; on PostgreSQL both are one pool."""

    write: AsyncEngine
    read: AsyncEngine

    @property
    def is_sqlite(self) -> bool:
        return self.write.dialect.name == "sqlite"

    async def dispose(self) -> None:
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()


def _sqlite_engine(url: str, begin: str) -> AsyncEngine:
    # SQLite allows one writer: BEGIN IMMEDIATE takes the write lock up front, so a
    # read-then-update in a write transaction cannot be overtaken (and waits, not fails).
    engine = create_async_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, hide_parameters=True
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


def create_engines(url: str) -> Engines:
    """Engines for `url` (sqlite+aiosqlite:///file or postgresql+asyncpg://...)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("SQLite needs a file: an in-memory database is shared by every coroutine")
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return Engines(write=_sqlite_engine(url, "BEGIN IMMEDIATE"), read=_sqlite_engine(url, "BEGIN"))
    # Fail fast while PostgreSQL is unreachable instead of hanging a request (asyncpg waits 60 s).
    engine = create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_timeout=CONNECT_TIMEOUT_S,
        # Parameters are personal data (e-mails, messages): never in error messages or logs.
        hide_parameters=True,
        connect_args={"timeout": CONNECT_TIMEOUT_S, "command_timeout": COMMAND_TIMEOUT_S},
    )
    event.listen(engine.sync_engine, "connect", _fresh)
    event.listen(engine.sync_engine, "checkout", _ping)
    return Engines(write=engine, read=engine)


_FRESH = "stamm_fresh"


def _fresh(_dbapi_connection: Any, record: Any) -> None:
    """Marks a connection made just now: its first checkout uses it without a ping."""
    record.info[_FRESH] = True


def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A pooled connection answers before it is used; one that does not ends the pool's older ones.

    Instead of pool_pre_ping, whose asyncpg ping wraps its `;` in a transaction (BEGIN, `;`,
    ROLLBACK: three round trips per checkout, for pgbouncer's transaction mode, which Stamm does
    not use). The pool retries with a new connection after InvalidatePoolError, as it does after
    a failed pre-ping; the unit of work's acquire timeout bounds a database that does not answer.
    """
    if record.info.pop(_FRESH, False):
        return  # connected just now: as pool_pre_ping, a new connection is not pinged
    try:
        dbapi_connection.run_async(lambda connection: connection.fetchrow(";"))
    except Exception as exc:
        raise sa_exc.InvalidatePoolError(f"the connection did not answer: {type(exc).__name__}") from exc

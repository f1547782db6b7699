"""Live servers for the end-to-end tests: SQLite + memory always, PostgreSQL + Redis when configured.

`server` is a fresh server with a fresh database for one test (routing and availability are
global state: an ONLINE counsellor of another test would take this test's chats).
`shared_server` lives for a module, for tests that only read errors and never route.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.support import LiveServer, e2e_config, free_port, start_server, stop_server
from tests.services import POSTGRES, Backend, backends, require_postgres, unique_name


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion on a loop of its own (fixtures here are synchronous)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


async def _admin_sql(base_url: str, sql: str) -> None:
    engine = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _database(backend: Backend, folder: Path) -> Iterator[str]:
    """A new SQLite file, or a new PostgreSQL database dropped afterwards."""
    if backend is not POSTGRES:
        yield f"sqlite+aiosqlite:///{folder / 'stamm-e2e.db'}"
        return
    base = require_postgres()
    name = unique_name("stamm_e2e")
    _run(_admin_sql(base, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        _run(_admin_sql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _serve(backend: Backend, folder: Path) -> Iterator[LiveServer]:
    for database_url in _database(backend, folder):
        port = free_port()
        live = start_server(e2e_config(database_url, backend.bus_url, port, folder), port)
        try:
            yield live
        finally:
            stop_server(live)


@pytest.fixture(params=backends())
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    """A server of its own for one test, on a new database."""
    yield from _serve(request.param, tmp_path)


@pytest.fixture(scope="module", params=backends())
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server for a whole module; its tests create their own accounts with unique e-mails."""
    yield from _serve(request.param, tmp_path_factory.mktemp("e2e"))

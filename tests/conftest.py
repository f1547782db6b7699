"""Shared fixtures: a migrated database of each configured kind, and use-case dependencies on it."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from domain.limits import Limits
from domain.use_cases import Deps
from domain.use_cases.routing import Dispatcher
from persistence.crypto import TextCipher
from persistence.database import Engines, create_engines
from persistence.event_bus import EventBus
from persistence.migrate import migrate
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.fakes import COUNTER_SECRET, FixedClock, MemoryBlobs, PlainHasher, settling
from tests.services import POSTGRES, Backend, backends, require_postgres, unique_name
from tests.support.exclusive import shared


async def _admin_sql(base_url: str, sql: str) -> None:
    admin = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await admin.dispose()


@pytest.fixture(params=backends())
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


async def _migrated(url: str) -> None:
    found = create_engines(url)
    try:
        await migrate(found.write)
    finally:
        await found.dispose()


def _blocking(work: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to the end from sync code, even while an event loop runs in this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, work).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per run; each test gets a copy (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "stamm.db"
    _blocking(_migrated(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """One migrated PostgreSQL database per run, the template of each test's database."""
    base = require_postgres()
    name = unique_name("stamm_template")
    _blocking(_admin_sql(base, f'CREATE DATABASE "{name}"'))
    try:
        _blocking(_migrated(make_url(base).set(database=name).render_as_string(hide_password=False)))
        yield name
    finally:
        _blocking(_admin_sql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class FreshDatabases:
    """New PostgreSQL databases made from the template one test ahead, dropped in the background.

    CREATE DATABASE ... TEMPLATE and DROP DATABASE take about half a second together (they wait
    for the disk); made while the test before runs, and dropped while the next one runs, they
    cost a test nothing. Each test still gets a database of its own, fresh from the template.
    """

    def __init__(self, base: str, template: str) -> None:
        self._base = base
        self._template = template
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fresh-databases")
        self._next: Future[str] | None = None

    def _create(self) -> str:
        name = unique_name("stamm_test")
        asyncio.run(_admin_sql(self._base, f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"'))
        return name

    def _drop(self, name: str) -> None:
        asyncio.run(_admin_sql(self._base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def take(self) -> str:
        """A new database's name (made for this test, or just now); the next one is started."""
        made = self._next or self._pool.submit(self._create)
        self._next = None
        name = await asyncio.wrap_future(made)
        self._next = self._pool.submit(self._create)
        return name

    def drop(self, name: str) -> None:
        self._pool.submit(self._drop, name)

    def url(self, name: str) -> str:
        return make_url(self._base).set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        """Drop the one made ahead, and wait for every drop."""
        if self._next is not None:
            with contextlib.suppress(Exception):  # its creation failed: nothing to drop
                self.drop(self._next.result())
        self._pool.shutdown(wait=True)


@pytest.fixture(scope="session")
def fresh_databases(postgres_template: str) -> Iterator[FreshDatabases]:
    found = FreshDatabases(require_postgres(), postgres_template)
    try:
        yield found
    finally:
        found.close()


@pytest.fixture
async def database_url(
    backend: Backend, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A migrated database of its own for one test: a copy of the SQLite template, or a new
    PostgreSQL database made from the template (dropped afterwards)."""
    if backend is not POSTGRES:
        path = tmp_path / "stamm.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    databases: FreshDatabases = request.getfixturevalue("fresh_databases")
    name = await databases.take()
    try:
        yield databases.url(name)
    finally:
        databases.drop(name)


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[Engines]:
    """Engines on the test's database, which is at the newest migration already."""
    found = create_engines(database_url)
    try:
        yield found
    finally:
        await found.dispose()


@pytest.fixture
async def bus(backend: Backend) -> AsyncIterator[EventBus]:
    found = EventBus(backend.bus_url, unique_name("stamm.test"))
    await found.connect()
    try:
        yield found
    finally:
        await found.disconnect()


# Routing tests submit many requests per client; the abuse limits have tests of their own.
GENEROUS_LIMITS = Limits(
    submits_per_hour=10_000, open_requests_per_client=10_000, registrations_per_address_per_hour=10_000
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def deps(engines: Engines, bus: EventBus, clock: FixedClock) -> Deps:
    """Use-case dependencies on the real database, a fixed clock and a fast hasher."""
    factory = SqlUnitOfWorkFactory(engines, bus.publish, TextCipher(secrets.token_bytes(32)))
    found = Deps(
        uow=factory,
        clock=clock,
        hasher=PlainHasher(),
        limits=GENEROUS_LIMITS,
        counter_secret=COUNTER_SECRET,
        blobs=MemoryBlobs(clock),
    )
    found.dispatch = settling(Dispatcher(found))
    return found


@pytest.fixture(autouse=True)
def _postgres_shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """A PostgreSQL test runs only while no `exclusive` one of this run does (tests/support/exclusive.py)."""
    node = request.node
    if node.get_closest_marker("postgres") is None or node.get_closest_marker("exclusive") is not None:
        yield
        return
    with shared(tmp_path_factory):
        yield


def _module_scoped(item: pytest.Item) -> bool:
    """Whether the test uses a fixture that lives for its module (a shared server, a cluster)."""
    info = getattr(item, "_fixtureinfo", None)
    definitions = getattr(info, "name2fixturedefs", {})
    return any(found and found[-1].scope == "module" for found in definitions.values())


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups for pytest-xdist's `--dist loadgroup` (make test runs `-n auto`):

    - `serial` tests run one after another, on one worker (they restart a server on a port of
      theirs, or bound how long something may take);
    - the tests of a module with a module-scoped fixture run on one worker, so that the fixture
      (a server process, a browser, a cluster) starts once, not once per worker.

    Every other test goes to whichever worker is free. Without xdist the markers do nothing.
    """
    for item in items:
        if item.get_closest_marker("serial") is not None:
            item.add_marker(pytest.mark.xdist_group("serial"))
        elif _module_scoped(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__ if item.module else item.nodeid))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--screenshots",
        default=None,
        help="tests/browser: write the walk-through's screenshots (console, widget) into this folder",
    )

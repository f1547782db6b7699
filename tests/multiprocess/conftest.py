"""Two server processes on a fresh PostgreSQL database and the test Redis, for a whole module.

The first process migrates the new database and creates the admin; the second starts only
once the first answers /readyz, so migrations never race. Every process's stderr goes to a
file under the tmp folder, and is shown in the report of a failing test.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import random
from collections.abc import AsyncIterator, Coroutine, Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests.multiprocess.support import Api, Cluster, Node, Staff, node
from tests.services import REDIS_URL, require_postgres, unique_name
from tests.support.exclusive import exclusive
from tests.support.server import NotReady

# Long enough that counsellors set ONLINE by a test do not lapse while a loaded machine runs it.
PRESENCE_TIMEOUT_SECONDS = 3600


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on a loop of its own (the process fixtures are synchronous)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


async def _sql(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """CREATE DATABASE stamm_mp_<random> on TEST_DATABASE_URL; DROP ... WITH (FORCE) afterwards."""
    base = require_postgres()  # fails when services are required but unset
    name = unique_name("stamm_mp")
    _run(_sql(base, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        _run(_sql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def running(names: tuple[str, ...], database_url: str, folder: Path) -> Iterator[list[Node]]:
    """Start the processes one after another, each once the one before is ready; stop them all."""
    assert REDIS_URL, "TEST_REDIS_URL is unset"
    nodes = [node(name, database_url, REDIS_URL, folder) for name in names]
    try:
        for started in nodes:
            try:
                started.start()
            except NotReady as exc:
                pytest.fail(str(exc), pytrace=False)
        yield nodes
    finally:
        for started in nodes:
            started.stop()


def _ids_from(database_url: str, start: int) -> None:
    """Let new rows of the main tables get ids from `start` on."""
    tables = ("counsellors", "clients", "requests", "primary_counsellor_changes")
    _run(
        _sql(database_url, *(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), {start})" for t in tables))
    )


@pytest.fixture(scope="module", autouse=True)
def _postgres_exclusive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No other test of this run uses PostgreSQL while a module of these runs (before its cluster starts)."""
    with exclusive(tmp_path_factory):
        yield


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Processes A and B of one deployment, for the module.

    Every test run with PostgreSQL shares the Redis server. Ids far from those of other runs make
    sure that, should an event of another deployment ever reach ours, it could not pass for one
    of ours (test_another_deployment_on_the_same_redis_is_not_heard checks it never does).
    """
    folder = tmp_path_factory.mktemp("multiprocess")
    with fresh_database() as database_url, running(("A", "B"), database_url, folder) as (a, b):
        _ids_from(database_url, random.randrange(10**8, 2 * 10**9, 10**6))
        yield Cluster(a, b, database_url)


@pytest.fixture
def stranger(tmp_path: Path) -> Iterator[Node]:
    """Process C of *another* deployment (a database of its own) on the same Redis.

    Its row ids are its own, so that nothing it names exists in the module's deployment.
    """
    with fresh_database() as database_url, running(("C",), database_url, tmp_path) as (c,):
        _ids_from(database_url, random.randrange(10**6, 10**8, 10**5))
        yield c


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Attach the processes' stderr to the report of a failing test."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        nodes: list[Node] = []
        if isinstance(found := funcargs.get("cluster"), Cluster):
            nodes.extend(found.nodes)
        if isinstance(other := funcargs.get("stranger"), Node):
            nodes.append(other)
        for node in nodes:
            report.sections.append((f"process {node.name} ({report.when})", node.describe()))
    return report


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Idle connections are dropped before uvicorn's keep-alive timeout (5 s) could close them under us.
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300, keepalive_expiry=1.0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        yield client


@pytest.fixture
def api(http: httpx.AsyncClient) -> Api:
    return Api(http)


@pytest.fixture
async def db(cluster: Cluster) -> AsyncIterator[AsyncEngine]:
    """Direct reads of the shared database (no pool kept between the test's loop and others)."""
    engine = create_async_engine(cluster.database_url, poolclass=NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def admin(cluster: Cluster, api: Api) -> AsyncIterator[Staff]:
    """The admin from the environment, after nothing routable was left by an earlier test."""
    found = await api.admin(cluster.a)
    await api.call(
        cluster.a,
        found.token,
        "mutation ($input: UpdateSettingsInput!) { updateSettings(input: $input) { __typename } }",
        input={"presenceTimeoutSeconds": PRESENCE_TIMEOUT_SECONDS, "acceptTimeoutSeconds": None},
    )
    await api.quiesce(cluster.b, found)
    yield found
    cluster.assert_alive()

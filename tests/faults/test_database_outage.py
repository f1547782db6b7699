"""PostgreSQL goes away and comes back: the API answers SERVICE_UNAVAILABLE fast, then recovers.

A TCP proxy in front of PostgreSQL (127.0.0.1:5432 in TEST_DATABASE_URL) stands for the network
between the API and its database. Cutting it closes every open connection and refuses new ones;
restoring it listens again on the same port. The app runs in process on a live uvicorn server
with DATABASE_URL pointing at the proxy, on a database of the test's own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    LiveServer,
    free_port,
    register_client,
    start_server,
    stop_server,
)
from tests.faults.support import app_config
from tests.services import POSTGRES_URL, REQUIRED, unique_name

# Restarts its proxy on the same port, and bounds how long an answer takes.
pytestmark = [pytest.mark.postgres, pytest.mark.serial]

# The spec'd budget for an answer while the database is unreachable (connect timeout is 3 s).
ANSWER_WITHIN_SECONDS = 5.0

COUNSELLORS = "{ counsellors { id } }"
# The pool's ping as asyncpg sends it: a Parse message of the statement ";".
PING = b"\x00;\x00"
LOGIN = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
SUBMIT = "mutation ($input: SubmitRequestInput!) { submitRequest(input: $input) { id status } }"


class TcpProxy:
    """A TCP proxy on its own thread and event loop (the app and the test have theirs).

    `cut()` closes every connection and refuses new ones (a crashed server, a dropped link);
    `freeze()` keeps every connection open but forwards nothing, and accepts new connections
    without ever answering (a network partition, a hung server); `restore()` undoes either.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.proxied = 0
        # While set, a connection that sends the pool's ping is dropped (a server that crash-loops,
        # a balancer in front of a sick primary): only a connection used without a ping works.
        self.drop_pinged = False

    def start(self) -> None:
        self._thread.start()
        self._call(self._restore())

    def cut(self) -> None:
        self._call(self._cut())

    def freeze(self) -> None:
        self._call(self._freeze())

    def restore(self) -> None:
        """Listen and forward again, on the same port."""
        self._call(self._restore())

    def stop(self) -> None:
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _restore(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.port, reuse_address=True
            )
        for writer in self._writers:
            if not writer.transport.is_closing():
                writer.transport.resume_reading()
        self._flowing.set()

    async def _freeze(self) -> None:
        self._flowing.clear()
        for writer in self._writers:
            if not writer.transport.is_closing():
                writer.transport.pause_reading()

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # refuse new connections from now on
        for writer in list(self._writers):
            writer.transport.abort()  # no goodbye
        self._writers.clear()
        for task in list(self._tasks):
            task.cancel()
        self._flowing.set()  # connections held by a freeze see they were closed, and end
        await asyncio.sleep(0.01)

    def _track(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._writers.add(client_writer)
        await self._flowing.wait()  # frozen: hold the connection and say nothing
        if client_writer.transport.is_closing():
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.add(upstream_writer)
        self.proxied += 1
        self._track(self._pipe(client_reader, upstream_writer, client_writer))
        self._track(self._pipe(upstream_reader, client_writer))

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: asyncio.StreamWriter | None = None,
    ) -> None:
        """Forwards one direction; `client` is set on the client's side (where a ping is seen)."""
        try:
            while data := await reader.read(65536):
                if client is not None and self.drop_pinged and PING in data:
                    client.transport.abort()
                    writer.transport.abort()
                    return
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on a loop of its own (the fixtures here are synchronous)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


async def _admin_sql(base_url: str, sql: str) -> None:
    engine = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture
def postgres_url() -> str:
    if not POSTGRES_URL:
        if REQUIRED:
            pytest.fail("STAMM_REQUIRE_SERVICES=1 but TEST_DATABASE_URL is unset")
        pytest.skip("TEST_DATABASE_URL is unset")
    return POSTGRES_URL


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[TcpProxy]:
    url = make_url(postgres_url)
    found = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    found.start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def outage_app(postgres_url: str, proxy: TcpProxy, tmp_path: Path) -> Iterator[LiveServer]:
    """A live server on a new PostgreSQL database reached through the proxy."""
    name = unique_name("stamm_faults")
    _run(_admin_sql(postgres_url, f'CREATE DATABASE "{name}"'))
    try:
        through_proxy = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port, database=name)
        port = free_port()
        config = app_config(through_proxy.render_as_string(hide_password=False), "memory://", port, tmp_path)
        live = start_server(config, port)
        try:
            yield live
        finally:
            proxy.restore()  # a clean shutdown needs the database
            stop_server(live)
    finally:
        _run(_admin_sql(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _post(
    live: LiveServer, query: str, token: str | None = None, **variables: Any
) -> tuple[httpx.Response, float]:
    """POST one operation; the response and how long it took (fails after the outage budget)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=ANSWER_WITHIN_SECONDS + 1) as client:
            response = await client.post(
                live.graphql_url, json={"query": query, "variables": variables or None}, headers=headers
            )
    except httpx.TimeoutException:
        pytest.fail(f"no answer within {ANSWER_WITHIN_SECONDS + 1} s")
    return response, time.monotonic() - started


async def _assert_unavailable(
    live: LiveServer, query: str, token: str | None = None, **variables: Any
) -> None:
    """HTTP 200 JSON with SERVICE_UNAVAILABLE first, within the budget, and nothing internal shown."""
    response, took = await _post(live, query, token, **variables)
    assert took < ANSWER_WITHIN_SECONDS, f"answered after {took:.1f} s"
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE", body
    assert "asyncpg" not in response.text and "sqlalchemy" not in response.text.lower()


async def _data(live: LiveServer, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
    response, _ = await _post(live, query, token, **variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def _get(live: LiveServer, path: str) -> tuple[int, float]:
    """GET a health check; its status and how long it took (fails after the outage budget)."""
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(timeout=ANSWER_WITHIN_SECONDS + 1) as client:
            response = await client.get(f"{live.base_url}{path}")
    except httpx.TimeoutException:
        pytest.fail(f"{path} did not answer within {ANSWER_WITHIN_SECONDS + 1} s")
    return response.status_code, time.monotonic() - started


async def test_an_unreachable_database_answers_service_unavailable_fast_and_recovers(
    outage_app: LiveServer, proxy: TcpProxy
) -> None:
    live = outage_app
    login = {"e": ADMIN_EMAIL, "p": ADMIN_PASSWORD}
    admin = (await _data(live, LOGIN, **login))["login"]["token"]
    kim = await register_client(live, "Kim")
    before = await _data(live, COUNSELLORS, admin)
    assert len(before["counsellors"]) == 1
    assert (await _get(live, "/readyz"))[0] == 200
    assert proxy.proxied > 0  # the pool holds connections that the cut will break

    proxy.cut()

    await _assert_unavailable(live, COUNSELLORS, admin)  # pooled connections are dead
    await _assert_unavailable(live, LOGIN, **login)
    await _assert_unavailable(live, SUBMIT, kim.token, input={"channel": "CHAT", "message": "Hallo"})
    await _assert_unavailable(live, COUNSELLORS, admin)  # and again, on new connections
    status, took = await _get(live, "/readyz")
    assert status == 503
    assert took < ANSWER_WITHIN_SECONDS
    assert (await _get(live, "/healthz"))[0] == 200  # alive, just not ready: no restart needed

    proxy.restore()

    # The same process recovers on the first try, without a restart.
    assert await _data(live, COUNSELLORS, admin) == before
    assert (await _data(live, LOGIN, **login))["login"]["token"]
    submitted = await _data(live, SUBMIT, kim.token, input={"channel": "CHAT", "message": "Hallo"})
    assert submitted["submitRequest"]["status"] == "QUEUED"
    assert (await _get(live, "/readyz"))[0] == 200


async def test_a_pooled_connection_that_fails_its_ping_is_replaced_by_one_used_at_once(
    outage_app: LiveServer, proxy: TcpProxy
) -> None:
    """As with pool_pre_ping, a new connection is used without a ping of its own: pinging it too
    used up the pool's two attempts and answered INTERNAL_SERVER_ERROR, not the request."""
    live = outage_app
    admin = (await _data(live, LOGIN, e=ADMIN_EMAIL, p=ADMIN_PASSWORD))["login"]["token"]
    before = await _data(live, COUNSELLORS, admin)

    proxy.cut()  # the pooled connections die; the new ones after it send their first ping in full
    proxy.drop_pinged = True
    proxy.restore()

    assert await _data(live, COUNSELLORS, admin) == before
    assert await _data(live, COUNSELLORS, admin) == before  # and again, whichever connection the pool gives


async def test_outage_answers_stay_fast_under_concurrent_load(
    outage_app: LiveServer, proxy: TcpProxy
) -> None:
    """Twenty requests at once during the outage each answer within the budget (no pile-up)."""
    live = outage_app
    admin = (await _data(live, LOGIN, e=ADMIN_EMAIL, p=ADMIN_PASSWORD))["login"]["token"]

    proxy.cut()
    started = time.monotonic()
    await asyncio.gather(*(_assert_unavailable(live, COUNSELLORS, admin) for _ in range(20)))
    assert time.monotonic() - started < ANSWER_WITHIN_SECONDS

    proxy.restore()
    assert len((await _data(live, COUNSELLORS, admin))["counsellors"]) == 1


async def test_a_database_that_stops_answering_fails_fast_too(
    outage_app: LiveServer, proxy: TcpProxy
) -> None:
    """A partition or a hung server: connections stay open but nothing comes back.

    The pooled connection must not hold a request for the 30 s command timeout: the answer is
    SERVICE_UNAVAILABLE within the same budget as for a refused connection.
    """
    live = outage_app
    admin = (await _data(live, LOGIN, e=ADMIN_EMAIL, p=ADMIN_PASSWORD))["login"]["token"]
    before = await _data(live, COUNSELLORS, admin)

    proxy.freeze()

    await _assert_unavailable(live, COUNSELLORS, admin)
    status, took = await _get(live, "/readyz")
    assert (status, took < ANSWER_WITHIN_SECONDS) == (503, True)

    proxy.restore()
    assert await _data(live, COUNSELLORS, admin) == before

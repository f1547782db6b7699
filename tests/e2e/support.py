"""Helpers for the end-to-end tests: a live uvicorn server and gql clients talking to it like a frontend.

The server runs in a background thread with its own event loop; tests talk to it over real
sockets only (HTTP through gql's HTTPXAsyncTransport, websockets through gql's
WebsocketsTransport speaking graphql-transport-ws). Two public seams of the app are used, and a
test fails loudly when either is gone:

- `EventBus.listeners` (the app's `state.stamm.bus`) counts the subscribers on the server's
  event bus: a subscription without an initial state is acknowledged once it listens.
- `create_app(config, hasher=...)` takes `CheapArgon2Hasher`, argon2 at its cheapest parameters
  (not another algorithm), to keep the many sign-ins cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher as Argon2
from argon2.exceptions import InvalidHashError, VerificationError
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport
from starlette.applications import Starlette

from bootstrap.config import Config
from bootstrap.wiring import create_app
from graph.auth import Argon2Hasher
from graph.main import serving_options
from tests.support.feeds import EVENT_TIMEOUT, Feed, subscribed
from tests.support.server import free_port
from tests.support.waiting import eventually

__all__ = ["EVENT_TIMEOUT", "Feed", "free_port"]  # re-exported for the e2e, faults and security tests

ADMIN_EMAIL = "admin@e2e.test"
ADMIN_PASSWORD = "admin-password-e2e-1"
PASSWORD = "counsel-password-1"
SECRET_KEY = "e2e-secret-key-" + "x" * 40
BUS_CHANNEL = "stamm.events"
# Bounds a failure only: uvicorn waits up to 5 s for open connections, then the app's lifespan
# shutdown must end by itself (uvicorn waits for it without limit).
SHUTDOWN_TIMEOUT = 30.0


def unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@e2e.test"


def e2e_config(database_url: str, broadcast_url: str, port: int, data_dir: Path) -> Config:
    """The production configuration with the e2e values; settings added later keep their defaults.

    Config.from_env fills in whatever this list does not name; STAMM_DATA_DIR points it at
    `data_dir`, so a key file it may generate lands there, never in the working tree.
    """
    explicit: dict[str, Any] = {
        "database_url": database_url,
        "broadcast_url": broadcast_url,
        "secret_key": SECRET_KEY,
        "token_ttl_seconds": 3600,
        "admin_email": ADMIN_EMAIL,
        "admin_password": ADMIN_PASSWORD,
        "demo": False,
        "migrate": True,
        "host": "127.0.0.1",
        "port": port,
        "sweep_seconds": 30.0,
        "allowed_origins": (),
    }
    overrides = {"STAMM_SECRET_KEY": SECRET_KEY, "STAMM_DATA_DIR": str(data_dir)}
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        defaults = Config.from_env()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    known = {f.name for f in dataclasses.fields(Config)}
    limits = getattr(defaults, "limits", None)
    if "limits" in known and dataclasses.is_dataclass(limits) and not isinstance(limits, type):
        # Every e2e request comes from 127.0.0.1: per-address limits would count the whole suite
        # as one visitor. The per-account and per-client limits stay as in production.
        per_address = {
            name: 1_000_000
            for name in ("registrations_per_address_per_hour", "login_failures_per_address")
            if hasattr(limits, name)
        }
        explicit["limits"] = dataclasses.replace(limits, **per_address)
    return dataclasses.replace(defaults, **{k: v for k, v in explicit.items() if k in known})


@dataclass
class LiveServer:
    """A running server: its URLs, and the app object (only for the bus subscriber count)."""

    base_url: str
    app: Starlette
    server: uvicorn.Server
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/graphql"

    @property
    def ws_url(self) -> str:
        return self.graphql_url.replace("http://", "ws://", 1)

    def bus_subscribers(self) -> int:
        """How many listeners the server's event bus has now (its public `listeners` count)."""
        state = getattr(self.app.state, "stamm", None)
        count = getattr(getattr(state, "bus", None), "listeners", None)
        if not isinstance(count, int):
            raise AssertionError("the app no longer shows app.state.stamm.bus.listeners: update this seam")
        return count

    async def wait_for_bus_subscribers(self, at_least: int, within: float = EVENT_TIMEOUT) -> None:
        """Wait until the server listens on its bus with `at_least` subscribers."""

        async def reached() -> bool:
            return self.bus_subscribers() >= at_least

        await eventually(reached, f"{at_least} bus subscribers", within, every=0.01)

    async def wait_for_bus_subscribers_down_to(self, at_most: int, within: float = EVENT_TIMEOUT) -> None:
        """Wait until the server's bus has at most `at_most` subscribers (ended ones were released)."""

        async def reached() -> bool:
            return self.bus_subscribers() <= at_most

        await eventually(reached, f"at most {at_most} bus subscribers", within, every=0.01)

    # Convenience wrappers around the module-level helpers.

    async def login(self, email: str, password: str) -> str:
        return await login(self.graphql_url, email, password)

    async def admin_token(self) -> str:
        return await login(self.graphql_url, ADMIN_EMAIL, ADMIN_PASSWORD)

    async def call(self, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
        return await call(self.graphql_url, token, query, **variables)

    async def call_error(self, token: str | None, query: str, **variables: Any) -> list[dict[str, Any]]:
        return await call_error(self.graphql_url, token, query, **variables)

    def ws(self, token: str | None = None) -> Client:
        return ws_client(self.ws_url, token)


class CheapArgon2Hasher(Argon2Hasher):
    """argon2id with the cheapest parameters: the same code path, milliseconds instead of 0.3 s a hash.

    Every e2e test creates and signs in several accounts; at the library's defaults the hashing
    alone would take most of the suite's time budget on a busy machine.
    """

    def __init__(self) -> None:
        super().__init__()
        self._argon2 = Argon2(time_cost=1, memory_cost=1024, parallelism=1)

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def start_server(config: Config, port: int, startup_timeout: float = 30.0) -> LiveServer:
    """Start uvicorn on 127.0.0.1:`port` in a thread; returns once it accepts connections."""
    app = create_app(config, hasher=CheapArgon2Hasher())
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,
            **serving_options(),
        )
    )
    loops: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve()

    def run() -> None:
        # As uvicorn.Server.run does (uvloop when installed), with the loop kept for diagnostics.
        with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
            runner.run(serve())

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the server stopped during start-up (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            pytest.fail(f"the server did not start within {startup_timeout} s")
        time.sleep(0.01)
    live = LiveServer(f"http://127.0.0.1:{port}", app, server, thread, loops[0])
    # The queue sweeper listens on the bus too: tests count listeners from a settled start.
    deadline = time.monotonic() + startup_timeout
    while live.bus_subscribers() == 0:
        if time.monotonic() > deadline:
            stop_server(live)
            pytest.fail("the queue sweeper never listened on the event bus")
        time.sleep(0.01)
    return live


def stop_server(live: LiveServer, within: float = SHUTDOWN_TIMEOUT) -> None:
    live.server.should_exit = True
    live.thread.join(timeout=within)
    if live.thread.is_alive():
        raise AssertionError(f"the server did not shut down within {within} s\n{_stacks(live)}")


def _stacks(live: LiveServer) -> str:
    """Where the server's thread and its tasks are stuck (for the failure message)."""
    out = io.StringIO()
    frame = sys._current_frames().get(live.thread.ident or -1)
    out.write("thread:\n" + "".join(traceback.format_stack(frame)) if frame else "thread gone\n")
    try:  # read from another thread while the loop runs: good enough for a failure message
        tasks = list(asyncio.all_tasks(live.loop))
    except RuntimeError as exc:
        tasks = []
        out.write(f"tasks not listed ({exc})\n")
    for task in tasks:
        out.write(f"\n{task!r}\n")
        task.print_stack(file=out)
    return out.getvalue()


# gql clients ------------------------------------------------------------------------------------


def http_client(url: str, token: str | None = None) -> Client:
    """A gql client over HTTP sending `Authorization: Bearer <token>` when a token is given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(transport=HTTPXAsyncTransport(url=url, headers=headers, timeout=30))


def ws_client(url: str, token: str | None = None) -> Client:
    """A gql client over graphql-transport-ws; the token goes into the connection_init payload."""
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(
        transport=WebsocketsTransport(
            url=url,
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            init_payload=payload,
            close_timeout=2,
        )
    )


async def call(url: str, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
    """Run one operation over HTTP; its data (TransportQueryError when it has errors)."""
    async with http_client(url, token) as session:
        result: dict[str, Any] = await session.execute(
            GraphQLRequest(query, variable_values=variables or None)
        )
        return result


async def call_error(url: str, token: str | None, query: str, **variables: Any) -> list[dict[str, Any]]:
    """Run one operation that must fail; its `errors`."""
    with pytest.raises(TransportQueryError) as caught:
        await call(url, token, query, **variables)
    errors = caught.value.errors
    assert errors, f"no errors in {caught.value!r}"
    return errors


async def login(url: str, email: str, password: str) -> str:
    data = await call(
        url,
        None,
        "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        e=email,
        p=password,
    )
    token: str = data["login"]["token"]
    return token


def codes(errors: list[dict[str, Any]]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in errors]


# Subscriptions ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def subscription(
    live: LiveServer,
    session: AsyncClientSession,
    query: str,
    *,
    listening: bool = True,
    **variables: Any,
) -> AsyncIterator[Feed]:
    """Subscribe on `session`; with `listening`, return only once the server listens on its bus.

    Pass listening=False for subscriptions expected to fail before they listen.
    """
    before = live.bus_subscribers()
    async with subscribed(session, query, **variables) as feed:
        if listening:
            await live.wait_for_bus_subscribers(before + 1)
        yield feed


# Domain shortcuts (each one GraphQL operation, as a frontend would send it) ----------------------


@dataclass(frozen=True)
class Counsellor:
    id: str
    email: str
    token: str


@dataclass(frozen=True)
class ClientAccount:
    id: str
    email: str
    token: str


async def create_counsellor(
    live: LiveServer, admin_token: str, name: str, *, login_now: bool = True, **extra: Any
) -> Counsellor:
    email = unique_email(name.lower())
    data = await live.call(
        admin_token,
        "mutation ($input: CreateCounsellorInput!) { createCounsellor(input: $input) { id email } }",
        input={"email": email, "password": PASSWORD, "displayName": name, **extra},
    )
    created = data["createCounsellor"]
    assert created["email"] == email
    token = await live.login(email, PASSWORD) if login_now else ""
    return Counsellor(created["id"], email, token)


async def register_client(live: LiveServer, name: str) -> ClientAccount:
    email = unique_email(name.lower())
    data = await live.call(
        None,
        """mutation ($input: RegisterClientInput!) {
             registerClient(input: $input) { token me { role client { id email } } }
           }""",
        input={"displayName": name, "email": email, "password": PASSWORD},
    )
    session = data["registerClient"]
    assert session["me"]["role"] == "CLIENT"
    return ClientAccount(session["me"]["client"]["id"], email, session["token"])


SET_ONLINE = """
mutation ($status: OnlineStatus!, $id: ID) {
  setOnlineStatus(status: $status, counsellorId: $id) { id onlineStatus }
}"""


async def set_online(live: LiveServer, token: str, status: str, counsellor_id: str | None = None) -> None:
    data = await live.call(token, SET_ONLINE, status=status, id=counsellor_id)
    assert data["setOnlineStatus"]["onlineStatus"] == status


SUBMIT = """
mutation ($input: SubmitRequestInput!) {
  submitRequest(input: $input) { id status channel routingReason counsellor { id } createdAt assignedAt }
}"""


async def submit(
    live: LiveServer, token: str, channel: str = "CHAT", message: str = "Hallo"
) -> dict[str, Any]:
    data = await live.call(token, SUBMIT, input={"channel": channel, "message": message})
    request: dict[str, Any] = data["submitRequest"]
    return request


async def raw_post(
    url: str, body: dict[str, Any], token: str | None = None, *, raw_token: str | None = None
) -> httpx.Response:
    """A plain POST, for what gql would refuse to send (syntax errors, wrong variable types)."""
    headers = {"Authorization": raw_token or f"Bearer {token}"} if (token or raw_token) else {}
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, json=body, headers=headers)

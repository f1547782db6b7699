"""Helpers of the security tests: live servers with a configuration of the test's choosing, and a
raw graphql-transport-ws client for protocol-level checks.

The servers are the e2e ones (tests/e2e/support.py: uvicorn in a thread, the cheap argon2 hasher),
on SQLite with the in-memory bus: what is tested here (limits, sessions, throttling, privacy) is
decided in Python, the same on every database.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin, Subprotocol

from bootstrap.config import Config
from domain.limits import Limits
from tests.e2e.support import EVENT_TIMEOUT, LiveServer, e2e_config, free_port, start_server, stop_server

PROTOCOL = Subprotocol("graphql-transport-ws")

# For tests that are not about the abuse limits: every registration and sign-in comes from 127.0.0.1.
GENEROUS_LIMITS = Limits(
    login_failures_per_address=100_000,
    submits_per_hour=100_000,
    open_requests_per_client=100_000,
    registrations_per_address_per_hour=100_000,
)

ME = "{ me { role counsellor { id } client { id } } }"


class Servers:
    """Starts servers on fresh SQLite files; stops them all at the end of the fixture's scope."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._running: list[tuple[LiveServer, Config]] = []

    def start(self, **overrides: Any) -> LiveServer:
        """A server with the e2e configuration, `overrides` replaced (limits default to generous)."""
        port = free_port()
        folder = self._folder / f"server-{port}"
        folder.mkdir()
        database_url = f"sqlite+aiosqlite:///{folder / 'stamm.db'}"
        overrides.setdefault("limits", GENEROUS_LIMITS)
        config = dataclasses.replace(e2e_config(database_url, "memory://", port, folder), **overrides)
        live = start_server(config, port)
        self._running.append((live, config))
        return live

    def config(self, live: LiveServer) -> Config:
        return next(config for running, config in self._running if running is live)

    def stop_all(self) -> None:
        while self._running:
            live, _ = self._running.pop()
            stop_server(live)


# Plain HTTP ------------------------------------------------------------------------------------


def plain_http() -> httpx.AsyncClient:
    """A client for http://127.0.0.1 only: no TLS set-up (which costs ~0.1 s a client), no proxies."""
    return httpx.AsyncClient(timeout=30, verify=False, trust_env=False)


async def post_raw(
    live: LiveServer, content: bytes, content_type: str = "application/json", token: str | None = None
) -> httpx.Response:
    headers = {"content-type": content_type}
    if token:
        headers["authorization"] = f"Bearer {token}"
    async with plain_http() as client:
        return await client.post(live.graphql_url, content=content, headers=headers)


async def post_json(live: LiveServer, body: object, token: str | None = None) -> httpx.Response:
    return await post_raw(live, json.dumps(body).encode(), token=token)


async def call(live: LiveServer, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
    """One operation's data; fails on errors. Like LiveServer.call, without gql's per-call set-up."""
    response = await post_json(live, {"query": query, "variables": variables}, token=token)
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def call_error(
    live: LiveServer, token: str | None, query: str, **variables: Any
) -> list[dict[str, Any]]:
    """The errors of an operation that must fail."""
    response = await post_json(live, {"query": query, "variables": variables}, token=token)
    errors: list[dict[str, Any]] = response.json().get("errors") or []
    assert errors, response.text
    return errors


def error_codes(response: httpx.Response) -> list[str | None]:
    """The `extensions.code` of each error of a JSON GraphQL response."""
    errors = response.json().get("errors") or []
    return [(e.get("extensions") or {}).get("code") for e in errors]


def assert_clean_refusal(response: httpx.Response) -> None:
    """A refusal a client can handle: 4xx, and nothing of the server's insides in the body."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


# Raw graphql-transport-ws ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def raw_ws(
    live: LiveServer, *, token: str | None = None, init: bool = True, origin: str | None = None
) -> AsyncIterator[ClientConnection]:
    """A websocket speaking graphql-transport-ws, acknowledged unless `init` is False."""
    async with connect(
        live.ws_url,
        subprotocols=[PROTOCOL],
        origin=Origin(origin) if origin else None,
        proxy=None,
        open_timeout=10,
        close_timeout=2,
    ) as ws:
        if init:
            payload = {"Authorization": f"Bearer {token}"} if token else {}
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            ack = await receive(ws)
            assert ack["type"] == "connection_ack", ack
        yield ws


async def subscribe(
    ws: ClientConnection, operation_id: str, query: str, variables: dict[str, Any] | None = None
) -> None:
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    await ws.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))


async def receive(ws: ClientConnection, within: float = EVENT_TIMEOUT) -> dict[str, Any]:
    """The next message; fails when none arrives in time or the server closes."""
    try:
        raw = await asyncio.wait_for(ws.recv(), within)
    except TimeoutError:
        raise AssertionError(f"no message within {within} s") from None
    message: dict[str, Any] = json.loads(raw)
    return message


async def close_code(ws: ClientConnection, within: float = EVENT_TIMEOUT) -> int | None:
    """Read (and drop) messages until the server closes the socket; its close code.

    Fails when the socket is still open after `within` seconds. None: closed without a close frame.
    """
    try:
        async with asyncio.timeout(within):
            while True:
                await ws.recv()
    except TimeoutError:
        raise AssertionError(f"the server did not close the websocket within {within} s") from None
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def assert_open(ws: ClientConnection) -> None:
    """The connection still answers: a ping gets a pong (graphql-transport-ws level)."""
    await ws.send(json.dumps({"type": "ping"}))
    while True:
        message = await receive(ws, within=5)
        if message["type"] == "pong":
            return

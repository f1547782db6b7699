"""A minimal graphql-transport-ws client on `websockets` (gql per socket is too heavy for 1,000 sockets)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

SUBPROTOCOL = "graphql-transport-ws"
# (receive time on the benchmark's monotonic clock, subscription id, message)
Handler = Callable[[float, str, dict[str, Any]], None]


class GraphQLSocket:
    """One websocket: connection_init with the token, then any number of subscriptions.

    Every `next`, `error` and `complete` goes to `handler` with the time it was read; the
    reader stamps the time before decoding, so decoding cost is not counted as latency.
    """

    def __init__(self, url: str, token: str | None, handler: Handler) -> None:
        self._url = url
        self._token = token
        self._handler = handler
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None

    async def open(self, wait: float = 30.0) -> None:
        self._ws = await connect(
            self._url,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            open_timeout=wait,
            ping_interval=None,
            max_queue=None,
        )
        payload = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        await self._ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(self._ws.recv(), wait))
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        self._reader = asyncio.create_task(self._read())

    async def subscribe(self, sub_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        assert self._ws is not None
        payload: dict[str, Any] = {"query": query}
        if variables:
            payload["variables"] = variables
        await self._ws.send(json.dumps({"id": sub_id, "type": "subscribe", "payload": payload}))

    async def complete(self, sub_id: str) -> None:
        assert self._ws is not None
        with contextlib.suppress(Exception):
            await self._ws.send(json.dumps({"id": sub_id, "type": "complete"}))

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                received = time.monotonic()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await self._ws.send(json.dumps({"type": "pong"}))
                elif kind in ("next", "error", "complete"):
                    self._handler(received, str(message.get("id")), message)
        except Exception as exc:
            self.failure = exc

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)

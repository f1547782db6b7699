"""A graphql-transport-ws client for thousands of widgets in one process: websockets' sans-I/O
client protocol under an asyncio protocol, without a reader task per socket.

`bench/ws.py`'s client runs a task per socket and hands each message through a queue to it: with
10,000 sockets in one process, reading one change's 10,000 messages took the benchmark about a
second, longer than the server took to send them. Real widgets each run in a browser of their
own; here a message is stamped when its bytes arrive (`data_received`), before it is decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from bench.ws import SUBPROTOCOL, Handler


class _Connection(asyncio.Protocol):
    def __init__(self, url: str, handler: Handler) -> None:
        self.sansio = ClientProtocol(parse_uri(url), subprotocols=[Subprotocol(SUBPROTOCOL)], max_size=None)
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.sansio.send_request(self.sansio.connect())
        self.flush()

    def data_received(self, data: bytes) -> None:
        received = time.monotonic()
        self.sansio.receive_data(data)
        for event in self.sansio.events_received():
            if isinstance(event, Response):
                if self.sansio.handshake_exc is not None:
                    self._fail(self.sansio.handshake_exc)
                elif not self.opened.done():
                    self.opened.set_result(None)
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._message(received, json.loads(bytes(event.data)))
        self.flush()  # pongs, the close handshake

    def _message(self, received: float, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "connection_ack" and not self.acknowledged.done():
            self.acknowledged.set_result(None)
        elif kind == "ping":
            self.send({"type": "pong"})
        elif kind in ("next", "error", "complete"):
            self.handler(received, str(message.get("id")), message)

    def send(self, message: dict[str, Any]) -> None:
        self.sansio.send_text(json.dumps(message).encode())
        self.flush()

    def flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.sansio.data_to_send()))

    def _fail(self, exc: BaseException) -> None:
        for waiting in (self.opened, self.acknowledged):
            if not waiting.done():
                waiting.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("closed"))
        if not self.lost.done():
            self.lost.set_result(None)


class LightGraphQLSocket:
    """bench/ws.py's GraphQLSocket for anonymous widgets: open, subscribe, close."""

    def __init__(self, url: str, handler: Handler) -> None:
        self._url = url
        self._handler = handler
        self._connection: _Connection | None = None

    async def open(self, wait: float = 30.0) -> None:
        parts = parse_uri(self._url)
        loop = asyncio.get_running_loop()
        _, connection = await asyncio.wait_for(
            loop.create_connection(lambda: _Connection(self._url, self._handler), parts.host, parts.port),
            wait,
        )
        self._connection = connection
        await asyncio.wait_for(asyncio.shield(connection.opened), wait)
        connection.send({"type": "connection_init", "payload": {}})
        await asyncio.wait_for(asyncio.shield(connection.acknowledged), wait)

    async def subscribe(self, sub_id: str, query: str) -> None:
        assert self._connection is not None
        self._connection.send({"id": sub_id, "type": "subscribe", "payload": {"query": query}})

    async def close(self) -> None:
        connection = self._connection
        if connection is None or connection.transport is None:
            return
        with contextlib.suppress(Exception):
            connection.sansio.send_close()
            connection.flush()
            await asyncio.wait_for(asyncio.shield(connection.lost), 5)
        connection.transport.close()

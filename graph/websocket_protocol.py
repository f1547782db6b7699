"""uvicorn's sans-I/O websocket protocol, lighter on memory for connections that stay open.

The default implementation runs a reader, a writer and a keep-alive task per connection; the
sans-I/O one runs none of them. A chat widget stays open for hours and mostly idle, so what it
keeps counts: the handshake's request and response (their headers, parsed twice over), which
nothing reads once the handshake is sent, go then (the request's headers emptied, as websockets'
parser keeps the request itself for as long as the connection lives; the scope has its own
copy); the receive queue and the writable flag, an asyncio.Queue and Event holding five empty
deques between them (0.6 KiB each), are replaced by equivalents that allocate only while someone
waits.

It also offers the app a synchronous send (the ASGI extension SEND_NOW): a change fanned out to
thousands of sockets is then written to each at once, not through a task and five coroutine
frames per socket; when the socket cannot take it now (its buffer full, closing, an awaited send
waiting before it) the app falls back to the usual `websocket.send`, which waits, in order.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState, ProtocolError
from websockets.http11 import Request

# scope["extensions"][SEND_NOW](text) -> bool: written now (True), or not writable now (False).
SEND_NOW = "stamm.websocket.send_now"


class LightWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]
        # Awaited sends under way: while one waits (for a full buffer to drain), it goes first.
        self.sending = 0

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        extensions: Any = getattr(self, "scope", {}).get("extensions")
        if extensions is not None:  # none when the handshake was refused
            extensions[SEND_NOW] = self.send_now

    def send_now(self, text: str) -> bool:
        """Write a text message now if the socket takes it as `websocket.send` would at once, and
        no awaited send waits before it (a close, a pong, another operation's result)."""
        if not self.writable.is_set() or self.sending or self.disconnected or self.close_sent:
            return False
        if not self.handshake_complete or self.initial_response is not None or self.transport.is_closing():
            return False
        try:
            self.conn.send_text(text.encode())
        except (InvalidState, ProtocolError):
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    async def send(self, message: Any) -> None:
        self.sending += 1
        try:
            await super().send(message)
        finally:
            self.sending -= 1
        if self.handshake_complete and getattr(self, "response", None) is not None:
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]


class _Waiters:
    """Futures of the tasks waiting, made only while one waits."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: list[asyncio.Future[None]] | None = None

    def wake(self) -> None:
        waiting, self._waiting = self._waiting, None
        for future in waiting or ():
            if not future.done():
                future.set_result(None)

    async def wait(self) -> None:
        future = asyncio.get_running_loop().create_future()
        if self._waiting is None:
            self._waiting = []
        self._waiting.append(future)
        try:
            await future
        finally:
            if self._waiting is not None and future in self._waiting:
                self._waiting.remove(future)


class Inbox(_Waiters):
    """What uvicorn uses of asyncio.Queue (unbounded): put_nowait, get, empty."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        super().__init__()
        self._items: list[Any] = []

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self.wake()

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            await self.wait()
        return self._items.pop(0)


class Flag(_Waiters):
    """What uvicorn uses of asyncio.Event, set at first: set, clear, wait."""

    __slots__ = ("_set",)

    def __init__(self) -> None:
        super().__init__()
        self._set = True

    def set(self) -> None:
        self._set = True
        self.wake()

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set

    async def wait(self) -> None:
        while not self._set:
            await super().wait()

"""graph/websocket_protocol.py's synchronous send, on a real uvicorn server and socket: offered
once the handshake is accepted, refused while the socket's buffer is full (so a client that reads
nothing holds no more than the server's write buffer) and once the client has left."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect

from graph.main import serving_options
from graph.websocket_protocol import SEND_NOW

GUARD = 10.0  # seconds: a broken server fails the test instead of hanging the suite
BIG = "x" * 65_536


class App:
    """Accepts a websocket and hands its scope to the test, with an event set once the client left."""

    def __init__(self) -> None:
        self.sockets: asyncio.Queue[tuple[dict[str, Any], asyncio.Event]] = asyncio.Queue()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        left = asyncio.Event()
        await self.sockets.put((scope, left))
        while (await receive())["type"] != "websocket.disconnect":
            pass
        left.set()


@pytest.fixture
async def served() -> AsyncIterator[tuple[App, str]]:
    app = App()
    # A socket listening before the server runs: clients may connect at once (the kernel queues them).
    listening = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", **serving_options())
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[listening]))
    try:
        yield app, f"ws://127.0.0.1:{listening.getsockname()[1]}/"
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(serving, GUARD)
        listening.close()


async def test_a_message_sent_now_reaches_the_client(served: tuple[App, str]) -> None:
    app, url = served
    async with connect(url) as client:
        scope, _ = await asyncio.wait_for(app.sockets.get(), GUARD)
        send_now = scope["extensions"][SEND_NOW]
        assert send_now("first") and send_now("second")
        assert [await asyncio.wait_for(client.recv(), GUARD) for _ in range(2)] == ["first", "second"]


async def test_a_client_that_reads_nothing_is_refused_once_its_buffer_is_full(
    served: tuple[App, str],
) -> None:
    app, url = served
    async with connect(url, max_size=None, max_queue=1) as client:
        scope, _ = await asyncio.wait_for(app.sockets.get(), GUARD)
        send_now = scope["extensions"][SEND_NOW]
        sent = 0
        while send_now(BIG):
            sent += 1
            assert sent < 4096, "256 MiB written to a client that reads nothing"
        # Refused until the client reads: the server keeps no more than its write buffer.
        assert not send_now(BIG)
        received = 0
        while received < sent:
            assert await asyncio.wait_for(client.recv(), GUARD) == BIG
            received += 1


async def test_a_socket_the_client_left_is_refused(served: tuple[App, str]) -> None:
    app, url = served
    async with connect(url):
        scope, left = await asyncio.wait_for(app.sockets.get(), GUARD)
    await asyncio.wait_for(left.wait(), GUARD)
    assert not scope["extensions"][SEND_NOW]("late")


async def test_a_message_sent_now_does_not_overtake_one_waiting_for_the_buffer(
    served: tuple[App, str],
) -> None:
    """A send that waits for a full buffer goes first once it drains (a close, a pong, another
    operation's result): the synchronous send then declines and the app takes the waiting way."""
    app, url = served
    async with connect(url) as client:
        scope, _ = await asyncio.wait_for(app.sockets.get(), GUARD)
        send_now = scope["extensions"][SEND_NOW]
        protocol = send_now.__self__  # the socket's asyncio protocol: its transport tells it
        protocol.pause_writing()  # the buffer is full
        waiting = asyncio.ensure_future(protocol.send({"type": "websocket.send", "text": "waiting"}))
        for _ in range(5):  # a few loop turns: the send reaches its wait
            await asyncio.sleep(0)
        assert not waiting.done()
        protocol.resume_writing()  # drained: the waiting send is woken, not yet run
        sent_now = send_now("later")
        await asyncio.wait_for(waiting, GUARD)
        expected = ["waiting", "later"] if sent_now else ["waiting"]
        assert [await asyncio.wait_for(client.recv(), GUARD) for _ in expected] == expected

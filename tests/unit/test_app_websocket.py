"""graph/app.py's StammApp: the GraphQL websocket goes straight to its endpoint, past the HTTP
middleware stack; any other websocket path is refused by the router as before."""

from __future__ import annotations

import pytest
from starlette.middleware import Middleware
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from graph.app import StammApp


class Endpoint:
    """Accepts, says which path it saw, closes."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": scope["path"]})
        await send({"type": "websocket.close", "code": 1000})


SEEN: list[str] = []  # scope types the middleware was called for


class Recording:
    """A middleware noting every scope type it is called for."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        SEEN.append(scope["type"])
        await self.app(scope, receive, send)


def test_the_graphql_websocket_skips_the_middleware_stack() -> None:
    SEEN.clear()
    app = StammApp(Endpoint(), routes=[], middleware=[Middleware(Recording)])
    with TestClient(app) as client, client.websocket_connect("/graphql") as socket:
        assert socket.receive_text() == "/graphql"
    assert "websocket" not in SEEN


def test_other_websocket_paths_are_refused_by_the_router() -> None:
    SEEN.clear()
    app = StammApp(Endpoint(), routes=[], middleware=[Middleware(Recording)])
    with (
        TestClient(app) as client,
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("/elsewhere") as socket,
    ):
        socket.receive_text()
    assert "websocket" in SEEN

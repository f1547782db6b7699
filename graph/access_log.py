"""The access log: method, path, status and duration of each HTTP request, and nothing else.

A query string can hold a whole GraphQL document with its variables (GraphQL over HTTP allows
queries by GET): a password, an e-mail, a search term. uvicorn's own access log writes the
query string, so the entrypoint switches it off and this middleware logs instead; should
uvicorn's access log run anyway (uvicorn started by hand), its lines lose the query string.
Bodies are never logged, and neither is the client's address, nor the token of a download link.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("stamm.access")


class AccessLog:
    """ASGI middleware writing one line per HTTP request: `GET /graphql 200 3.1 ms`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        def logged(status: int) -> None:
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1f ms", scope["method"], logged_path(scope["path"]), status, elapsed_ms)

        await answered(self.app, scope, receive, send, logged)


async def answered(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, then: Callable[[int], None]
) -> None:
    """Run `app` on an HTTP request, then tell `then` the status the client got (500 when the
    app failed before it answered), also when it failed."""
    status = 500

    async def sending(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    try:
        await app(scope, receive, sending)
    finally:
        then(status)


def logged_path(path: str) -> str:
    """The path as logged: a download link's token is a key to a file for minutes, not logged."""
    return "/files/…" if path.startswith("/files/") else path


class _WithoutQueryString(logging.Filter):
    """uvicorn writes paths with their query strings (`"GET /graphql?query=... HTTP/1.1" 200`,
    `"WebSocket /graphql?token=..." [accepted]`): cut every path argument at its `?`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                logged_path(a.partition("?")[0]) if isinstance(a, str) and a.startswith("/") else a
                for a in record.args
            )
        return True


for _name in ("uvicorn.access", "uvicorn.error"):
    logging.getLogger(_name).addFilter(_WithoutQueryString())

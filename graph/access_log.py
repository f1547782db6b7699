"""The access log: method, path, status and duration of each HTTP request, and nothing else.

A query string can hold a whole GraphQL document with its variables (GraphQL over HTTP allows
queries by GET): a password, an e-mail, a search term. uvicorn's own access log writes the
query string, so the entrypoint switches it off and this middleware logs instead; should
uvicorn's access log run anyway (uvicorn started by hand), its lines lose the query string.
Bodies are never logged, and neither is the client's address.
"""

from __future__ import annotations

import logging
import time

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
        status = 500  # what the client gets when the app fails before it answers

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, elapsed_ms)


class _WithoutQueryString(logging.Filter):
    """uvicorn's access lines are `client - "METHOD path?query HTTP/x" status`: cut the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].partition("?")[0], *args[3:])
        return True


logging.getLogger("uvicorn.access").addFilter(_WithoutQueryString())

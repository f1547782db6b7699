"""The GraphQL endpoint's transport: clean errors for malformed bodies and websocket messages."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketDisconnected
from strawberry.asgi import GraphQL
from strawberry.http.exceptions import WebSocketDisconnected as StrawberryDisconnected
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.types.graphql import OperationType

from graph.context import Context


class _NoFrames(logging.Filter):
    """uvicorn's websocket implementation logs frames (message texts) at DEBUG: never log those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(("< TEXT", "> TEXT", "< BINARY", "> BINARY"))


logging.getLogger("uvicorn.error").addFilter(_NoFrames())


def _valid_subscribe(payload: object) -> bool:
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and isinstance(payload.get("variables"), (dict, type(None)))
        and isinstance(payload.get("operationName"), (str, type(None)))
    )


class StammTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws that closes with 4400 on malformed messages instead of crashing."""

    async def send_message(self, message: Any) -> None:
        # A subscription whose session ended closed the socket itself (4401): nothing left to send.
        with contextlib.suppress(WebSocketDisconnect, WebSocketDisconnected, StrawberryDisconnected):
            await super().send_message(message)

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict):
            await self.handle_invalid_message("Failed to parse message")
            return
        if message.get("type") == "subscribe":
            if not _valid_subscribe(message.get("payload")):
                await self.handle_invalid_message("Invalid subscribe payload")
                return
            if self._over_limit(message):
                limit = {"message": "Subscription limit reached", "extensions": {"code": "RATE_LIMITED"}}
                await self.send_message({"id": message["id"], "type": "error", "payload": [limit]})
                return
        await super().handle_message(message)  # type: ignore[arg-type]

    def _over_limit(self, message: dict[str, Any]) -> bool:
        limit = self.max_subscriptions_per_connection
        return (
            self.connection_acknowledged
            and message.get("id") not in self.operations
            and limit is not None
            and len(self.operations) >= limit
        )


class _MutationViaGet(HTTPException):
    def __init__(self) -> None:
        super().__init__(405, "Mutations are only accepted by POST.")


class CleanGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view, answering 400 (not 500) to bodies that are not a JSON object,
    and 405 with `Allow: POST` to a mutation sent by GET (GraphQL over HTTP; strawberry says 400)."""

    graphql_transport_ws_handler_class = StammTransportWSHandler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive))
        except _MutationViaGet as exc:
            response = PlainTextResponse(exc.reason, status_code=405, headers={"Allow": "POST"})
        except HTTPException as exc:
            response = PlainTextResponse(exc.reason, status_code=exc.status_code)
        await response(scope, receive, send)

    async def execute_single(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as exc:
            refused = exc.__cause__
            # Mutations are allowed by POST, so a refused one came by GET.
            if (
                isinstance(refused, InvalidOperationTypeError)
                and refused.operation_type is OperationType.MUTATION
            ):
                raise _MutationViaGet() from exc
            raise

    def parse_json(self, data: str | bytes) -> Any:
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise HTTPException(400, "Unable to parse request body as JSON") from exc

    async def parse_http_body(self, request: Any) -> Any:
        try:
            return await super().parse_http_body(request)
        except AttributeError as exc:
            raise HTTPException(400, "The request body must be a JSON object.") from exc

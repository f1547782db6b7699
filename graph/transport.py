"""The GraphQL endpoint's transport: GraphQL over HTTP with clean refusals, and clean websocket errors."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketDisconnected
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import WebSocketDisconnected as StrawberryDisconnected
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from graph.context import Context
from graph.errors import refusal
from graph.media_types import GRAPHQL_RESPONSE_JSON, JSON, response_media_type


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


def _status_before_execution(result: ExecutionResult) -> int | None:
    """400 (500 if unexpected) when parse, validation or variable coercion failed, so nothing
    ran: no data and only errors without a path (every error of an executed field has one)."""
    errors = result.errors or []
    if result.data is not None or not errors or any(e.path is not None for e in errors):
        return None
    unexpected = any((e.extensions or {}).get("code") == "INTERNAL_SERVER_ERROR" for e in errors)
    return 500 if unexpected else 400


class CleanGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view, speaking GraphQL over HTTP as the spec says (docs/decisions.md):

    - `application/graphql-response+json` when the client accepts it; then a request that fails
      before execution answers 400 (500 if unexpected) without a `data` entry. `application/json`
      (no Accept header, wildcards) keeps the legacy 200 with `data: null`.
    - Requests refused before GraphQL runs answer 4xx with a GraphQL error body whose
      `extensions.code` names the refusal: 400 for a body that is not a JSON object or lacks a
      query (not 500), 405 with `Allow: POST` for a mutation by GET (strawberry says 400),
      406 when the client accepts no JSON, 415 for a POST body that is not application/json.
    """

    graphql_transport_ws_handler_class = StammTransportWSHandler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        media = response_media_type(request.headers.get("accept"))
        if media is None and not self.should_render_graphql_ide(self.request_adapter_class(request)):
            response = _refused(406, f"Responses are {GRAPHQL_RESPONSE_JSON} or {JSON}.", JSON)
        else:
            response = await self._answer(request, media or JSON)
        await response(scope, receive, send)

    async def _answer(self, request: Request, media: str) -> Response:
        try:
            response = await self.run(request)
        except _MutationViaGet as exc:
            return _refused(405, exc.reason, media, {"Allow": "POST"})
        except HTTPException as exc:
            return _refused(exc.status_code, exc.reason, media)
        # Only GraphQL results are JSON here (the IDE is HTML).
        if media != JSON and response.headers.get("content-type") == JSON:
            response.headers["content-type"] = media
            response.status_code = getattr(request.state, "graphql_status", response.status_code)
        return response

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        status = _status_before_execution(result)
        if status and response_media_type(request.headers.get("accept")) == GRAPHQL_RESPONSE_JSON:
            response.pop("data", None)
            request.state.graphql_status = status
        return response

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
        if request.method == "POST" and not self._readable(request.content_type):
            raise HTTPException(415, "The request body must be application/json.")
        try:
            return await super().parse_http_body(request)
        except AttributeError as exc:
            raise HTTPException(400, "The request body must be a JSON object.") from exc

    def _readable(self, content_type: str | None) -> bool:
        """Whether strawberry reads a POST body of this type (the same test as its own)."""
        media, _ = parse_content_type(content_type or "")
        return "application/json" in media or (
            self.multipart_uploads_enabled and media == "multipart/form-data"
        )


def _refused(status: int, message: str, media: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(refusal(status, message)), status_code=status, media_type=media, headers=headers
    )

"""The GraphQL endpoint's transport: GraphQL over HTTP with clean refusals, and clean websocket errors."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from contextlib import aclosing
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError, OperationDefinitionNode, parse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.exceptions import WebSocketDisconnected as StrawberryDisconnected
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import CompleteMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from graph.context import Context
from graph.errors import refusal
from graph.media_types import GRAPHQL_RESPONSE_JSON, JSON, response_media_type
from graph.metrics import observer_of
from graph.outlets import DirectOutlet


class _NoFrames(logging.Filter):
    """uvicorn's websocket implementation logs frames (message texts) at DEBUG: never log those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(("< TEXT", "> TEXT", "< BINARY", "> BINARY"))


logging.getLogger("uvicorn.error").addFilter(_NoFrames())


# The close code of a websocket message larger than STAMM_MAX_BODY_BYTES (as HTTP's 413).
MESSAGE_TOO_LARGE = 4413
NAME_THE_OPERATION = "Must provide operation name if query contains multiple operations."


class Oversized:
    """A websocket message over the size limit, in place of its decoded JSON (never parsed)."""


@functools.lru_cache(maxsize=512)
def operation_count(query: str) -> int:
    """How many operations a document defines (0 if it does not parse: GraphQL reports that).

    Strawberry runs the first operation of a document when no operationName names one; the
    GraphQL spec makes that a request error. Cached: clients send the same few documents."""
    try:
        document = parse(query)
    except GraphQLError:
        return 0
    return sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)


def _ambiguous(query: object, operation_name: object) -> bool:
    return operation_name is None and isinstance(query, str) and operation_count(query) > 1


def _valid_subscribe(payload: object) -> bool:
    return (
        isinstance(payload, dict)
        and isinstance(payload.get("query"), str)
        and isinstance(payload.get("variables"), (dict, type(None)))
        and isinstance(payload.get("operationName"), (str, type(None)))
    )


class StammTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws that closes with 4400 on malformed messages instead of crashing, and
    whose operations a state feed may hand itself over to (graph/outlets.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outlets: dict[str, DirectOutlet] = {}

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Strawberry's, run with the operation's direct outlet as the current one; an operation
        handed over is not completed when its generator ends (its outlet carries it on)."""
        observer = observer_of(self.context)
        socket = self.context.request
        assert isinstance(socket, WebSocket)  # this handler serves websockets only
        outlet = DirectOutlet(socket, operation.id, self.schema, observer.delivered if observer else _ignore)
        self._outlets[operation.id] = outlet
        try:
            with outlet.running():
                await self._run_streamed(operation, outlet)
        finally:
            if not outlet.handed_over:
                self._outlets.pop(operation.id, None)

    async def _run_streamed(self, operation: Operation[Context, None], outlet: DirectOutlet) -> None:
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            if not outlet.handed_over:
                await operation.send_operation_message(CompleteMessage(id=operation.id, type="complete"))
        except _OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise

    async def cleanup_operation(self, operation_id: str) -> None:
        outlet = self._outlets.pop(operation_id, None)
        if outlet is not None:
            outlet.close()
        await super().cleanup_operation(operation_id)

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        # Strawberry cancels its init timer here but keeps the task, and with the task's
        # CancelledError the frames it ran in, for the life of the connection.
        self.connection_init_timeout_task = None

    async def send_message(self, message: Any) -> None:
        # A subscription whose session ended closed the socket itself (4401): nothing left to send.
        with contextlib.suppress(WebSocketDisconnect, WebSocketDisconnected, StrawberryDisconnected):
            await super().send_message(message)

    async def handle_message(self, message: Any) -> None:
        if isinstance(message, Oversized):
            await self.websocket.close(MESSAGE_TOO_LARGE, "Message too large")
            return
        if not isinstance(message, dict):
            await self.handle_invalid_message("Failed to parse message")
            return
        if message.get("type") == "subscribe":
            payload: dict[str, Any] = message.get("payload") or {}
            if not _valid_subscribe(message.get("payload")):
                await self.handle_invalid_message("Invalid subscribe payload")
                return
            if _ambiguous(payload["query"], payload.get("operationName")):
                refused = {"message": NAME_THE_OPERATION, "extensions": {"code": "BAD_REQUEST"}}
                await self.send_message({"id": message.get("id"), "type": "error", "payload": [refused]})
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


def _ignore(seconds: float) -> None:
    pass


class StammLegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The legacy graphql-ws protocol, with the same bound on message size and the same refusal of
    several operations without an operationName."""

    async def handle_message(self, message: Any) -> None:
        if isinstance(message, Oversized):
            await self.websocket.close(MESSAGE_TOO_LARGE, "Message too large")
            return
        payload = message.get("payload") if isinstance(message, dict) else None
        starts = isinstance(message, dict) and message.get("type") == "start" and isinstance(payload, dict)
        if starts and _ambiguous(payload.get("query"), payload.get("operationName")):  # type: ignore[union-attr]
            refused = {"message": NAME_THE_OPERATION, "extensions": {"code": "BAD_REQUEST"}}
            await self.websocket.send_json({"type": "error", "id": message.get("id"), "payload": refused})
            return
        await super().handle_message(message)


class _MutationViaGet(HTTPException):
    def __init__(self) -> None:
        super().__init__(405, "Mutations are only accepted by POST.")


SUBSCRIPTION_VIA_HTTP = (
    "Subscriptions are served over a websocket at this address (graphql-transport-ws), not over HTTP."
)


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
      406 when the client accepts no JSON, 415 for a POST body that is not application/json,
      400 for a subscription (served over the websocket only) and for several operations
      without an operationName.
    """

    graphql_transport_ws_handler_class = StammTransportWSHandler
    graphql_ws_handler_class = StammLegacyWSHandler
    # Websocket messages larger than this close the socket with MESSAGE_TOO_LARGE (None: no limit).
    max_message_bytes: int | None = None

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

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: Any,
    ) -> ExecutionResult:
        """Strawberry's, but a subscription is refused (strawberry would run it as a query and
        fail on its null result), and so is a document of several operations without an
        operationName (strawberry would run the first)."""
        if _ambiguous(request_data.query, request_data.operation_name):
            raise HTTPException(400, NAME_THE_OPERATION)
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        if not self.allow_queries_via_get and request_adapter.method == "GET":
            allowed -= {OperationType.QUERY}
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise HTTPException(400, SUBSCRIPTION_VIA_HTTP) from exc
            # Mutations are allowed by POST, so a refused one came by GET.
            if exc.operation_type is OperationType.MUTATION:
                raise _MutationViaGet() from exc
            raise HTTPException(400, exc.as_http_error_reason(request_adapter.method)) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc

    def decode_json(self, data: str | bytes) -> object:
        """A websocket message (HTTP bodies go through `parse_json`); over the limit, `Oversized`."""
        limit = self.max_message_bytes
        if limit is not None and len(data) * 4 > limit:  # 4: the most bytes a character takes
            size = len(data) if isinstance(data, bytes) else len(data.encode(errors="surrogatepass"))
            if size > limit:
                return Oversized()
        return super().decode_json(data)

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

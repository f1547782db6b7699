"""Where a subscription's results go once its first state is out.

Strawberry runs every subscription as a task with an async generator, and each result passes its
whole pipeline (graphql-core's per-event execution, the schema extensions, the transport). For the
state feeds that thousands of widgets keep open, that costs more per delivery, and more memory per
subscription, than the delivery itself. So once a feed (graph/feeds/) has sent its first state
it hands itself over to the transport when the transport takes it (`DirectOutlet`, made by
graph/transport.py for graphql-transport-ws): the operation's task ends without completing the
operation, and later results are rendered here, once per shared payload and document, and written
to the websocket as they come. Elsewhere (the legacy graphql-ws protocol, in-process callers) the
feed's results stay in a `StreamOutlet` its generator yields from.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import logging
import time
import weakref
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from functools import partial
from typing import Any

from graphql import ExecutionResult, GraphQLResolveInfoHelpers
from starlette.websockets import WebSocket, WebSocketDisconnect

from graph.websocket_protocol import SEND_NOW

log = logging.getLogger(__name__)

# The operation being run in this task, when its transport takes hand-overs.
_CURRENT: ContextVar[DirectOutlet | None] = ContextVar("stamm_outlet", default=None)
# The rendered texts of a shared payload, kept on the payload itself (it lives for one change).
_TEXTS = "_stamm_texts"
# Documents remembered per shared payload: a payload can live for hours, and anyone may send new
# documents (a comment makes one), so what it keeps is bounded.
SHARED_DOCUMENTS = 32
CLOSE_SECONDS = 5.0
# Executors without a viewer, one per schema and document key, shared by the outlets running that
# document: an executor keeps kilobytes of caches that thousands of widgets subscribed to the same
# document would otherwise each keep (docs/benchmarks.md, "memory per widget").
_PLANS: weakref.WeakValueDictionary[Hashable, Any] = weakref.WeakValueDictionary()


def current() -> DirectOutlet | None:
    """The direct outlet of the operation this task runs, if its transport takes hand-overs."""
    return _CURRENT.get()


class StreamOutlet:
    """Results for the feed's own generator to yield, in order; coalesced per key (a newer state
    of the same thing replaces one not yet taken)."""

    __slots__ = ("_parked", "_pending", "_wake", "ended")

    def __init__(self) -> None:
        self._pending: dict[Hashable, Any] = {}
        self._wake = asyncio.Event()
        # Set while the generator waits with nothing pending: all it yielded was taken.
        self._parked = asyncio.Event()
        self.ended = False

    def push(self, key: Hashable, payload: Any) -> None:
        self._pending[key] = payload
        self._parked.clear()
        self._wake.set()

    def end(self) -> None:
        self.ended = True
        self._wake.set()
        self._parked.set()  # nothing more will be taken

    def take_pending(self) -> dict[Hashable, Any]:
        pending, self._pending = self._pending, {}
        return pending

    async def next(self) -> Any:
        """The next result; ENDED once the stream has ended (what is pending then is dropped)."""
        while not self._pending and not self.ended:
            self._wake.clear()
            self._parked.set()
            await self._wake.wait()
        self._parked.clear()
        if self.ended:
            return ENDED
        key = next(iter(self._pending))
        return self._pending.pop(key)

    async def drained(self) -> None:
        """Until the generator waits for more with nothing pending."""
        await self._parked.wait()


# What StreamOutlet.next returns once its stream has ended.
ENDED = object()


class DirectOutlet:
    """One graphql-transport-ws operation's way to the websocket after its generator handed over.

    `executor` is the operation's graphql-core executor (graph/live.py's SharingExecutor notes it
    with the first result) or its viewerless plan (`plan_of`): each payload is executed by it as
    strawberry would, with the payload as the root value and the operation's context. A result
    ready at once with nothing queued before it is written at once (SEND_NOW); others are queued
    per key (coalesced) and written by one short-lived task at a time, so a slow client delays
    only itself and its queue never outgrows its keys."""

    __slots__ = (
        "_closed",
        "_closers",
        "_context",
        "_delivered",
        "_document",
        "_drain",
        "_pending",
        "_prefix",
        "_send_now",
        "_socket",
        "executor",
        "handed_over",
        "schema",
    )

    def __init__(
        self, socket: WebSocket, operation_id: str, schema: Any, delivered: Callable[[float], None]
    ) -> None:
        self._socket = socket
        # A synchronous send, where the server offers one (graph/websocket_protocol.py).
        self._send_now: Callable[[str], bool] | None = (socket.scope.get("extensions") or {}).get(SEND_NOW)
        self._prefix = '{"id":' + json.dumps(operation_id) + ',"type":"next","payload":'
        self.schema = schema
        self._delivered = delivered
        self.executor: Any = None
        self._context: Any = None
        self._document: Hashable | None = None  # the operation's document_key
        self.handed_over = False
        self._pending: dict[Hashable, tuple[float, str | asyncio.Future[str]]] = {}
        self._drain: asyncio.Task[None] | None = None
        self._closers: list[Callable[[], None]] = []
        self._closed = False

    @contextlib.contextmanager
    def running(self) -> Any:
        """Run the operation with this outlet as the current one."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def note_executor(self, executor: Any) -> None:
        if self.executor is None:
            self._document = document_key(executor)
            self._context = executor.context_value
            self.executor = plan_of(executor, self._document)

    @property
    def takes_hand_over(self) -> bool:
        return self.executor is not None and not self._closed

    def take_over(self, closer: Callable[[], None]) -> None:
        """From now on this outlet carries the operation; `closer` runs when it ends."""
        self.handed_over = True
        self._closers.append(closer)

    def when_closed(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def push(self, key: Hashable, payload: Any) -> None:
        if self._closed:
            return
        text = rendered(self.executor, self._context, self.schema, payload, self._document)
        if self._drain is None and isinstance(text, str) and self._sent_now(text):
            return
        self._pending[key] = (time.monotonic(), text)
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_task(self._send_pending())

    def _sent_now(self, text: str) -> bool:
        """Written at once, if nothing waits before it and the socket takes it now."""
        if self._send_now is None or not self._send_now(self._prefix + text + "}"):
            return False
        self._delivered(0.0)
        return True

    async def _send_pending(self) -> None:
        try:
            while self._pending and not self._closed:
                key = next(iter(self._pending))
                queued, text = self._pending.pop(key)
                if not isinstance(text, str):
                    # Shielded: the rendering may be shared, and this outlet's cancellation (its
                    # client left) must not cancel it for the others.
                    try:
                        text = await asyncio.shield(text)
                    except _WithErrors as with_errors:
                        text = with_errors.text
                await self._socket.send_text(self._prefix + text + "}")
                self._delivered(time.monotonic() - queued)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.close()  # the socket went away; its handler cleans up the operation
        except Exception:
            log.exception("a subscription result could not be sent")
            self.close()
        finally:
            self._drain = None

    def close(self) -> None:
        """End the operation here (the client completed it, the socket closed, its session ended)."""
        if self._closed:
            return
        self._closed = True
        self._pending = {}
        closers, self._closers = self._closers, []
        for closer in closers:
            try:
                closer()
            except Exception:
                log.exception("closing a subscription failed")
        if self._drain is not None and self._drain is not asyncio.current_task():
            self._drain.cancel()

    async def end_session(self) -> None:
        """The subscriber's session ended: close the websocket as an ended session does (4401)."""
        self.close()
        with contextlib.suppress(Exception):
            # A client that reads nothing must not hold the close (and this task) for ever.
            await asyncio.wait_for(self._socket.close(code=4401, reason="Unauthorized"), CLOSE_SECONDS)


def plan_of(executor: Any, document: Hashable) -> Any:
    """An executor for `document` that runs like `executor` for any viewer: a copy without its
    context and root value, shared by the operations of the same schema and document. Not shared
    when per-operation parts could carry a viewer (resolve middleware: extension instances of the
    operation that made it; operation extensions)."""
    middleware = executor.middleware_manager
    if (middleware is not None and middleware.middlewares) or getattr(executor, "operation_extensions", None):
        return executor
    key = (id(executor.schema), document)
    plan = _PLANS.get(key)
    if plan is None:
        plan = copy.copy(executor)
        plan.context_value = plan.root_value = None
        # The resolvers' helpers are bound to the executor they were made by: a copy's would keep
        # that operation's executor, and with it its viewer's context, for as long as the plan.
        plan.async_helpers = GraphQLResolveInfoHelpers(
            gather=plan.gather_async_work, track=plan.track_async_work
        )
        _PLANS[key] = plan
    return plan


def rendered(
    executor: Any, context: Any, schema: Any, payload: Any, document: Hashable
) -> str | asyncio.Future[str]:
    """The `payload` of a `next` message for an operation (its executor or plan, its context and
    document_key): executed once per shared payload and document (graph/live.py marks shared
    payloads), else for this operation alone. A rendering with errors, or one that failed, is not
    reused."""
    texts: dict[Hashable, str | asyncio.Future[str]] | None = getattr(payload, _TEXTS, None)
    if texts is None:
        return _render(executor, context, schema, payload, None)
    found = texts.get(document)
    if found is not None and not _failed(found):
        return found
    return _render(executor, context, schema, payload, partial(remember, texts, document))


def remember(cache: dict[Hashable, Any], key: Hashable, value: Any) -> None:
    """Keep `value` in a shared payload's cache of at most SHARED_DOCUMENTS documents."""
    if key not in cache and len(cache) >= SHARED_DOCUMENTS:
        cache.clear()
    cache[key] = value


def _failed(text: str | asyncio.Future[str]) -> bool:
    return (
        isinstance(text, asyncio.Future)
        and text.done()
        and (text.cancelled() or text.exception() is not None)
    )


def mark_shared(payload: Any) -> None:
    object.__setattr__(payload, _TEXTS, {})


def document_key(executor: Any) -> Hashable:
    """What a result depends on besides the payload: the document, operation and variables (the
    document by its digest: a key must not keep a document of up to the body limit alive)."""
    operation = executor.operation
    source = operation.loc.source.body if operation.loc else None
    digest = hashlib.sha256(source.encode()).digest() if source is not None else id(operation)
    values = executor.variable_values.coerced
    frozen = repr(sorted(values.items())) if values else None
    return (digest, operation.name.value if operation.name else None, frozen)


def _render(
    executor: Any, context: Any, schema: Any, payload: Any, keep: Callable[[Any], None] | None
) -> str | asyncio.Future[str]:
    fresh = getattr(context, "fresh_loaders", None)
    if fresh is not None:
        fresh()  # loaders never outlive one result
    event = executor.build_per_event_executor(payload)
    event.context_value = context
    result = event.execute_operation(False)
    if isinstance(result, ExecutionResult):
        text = _text(schema, result)
        if keep is not None and not result.errors:
            keep(text)
        return text
    later = asyncio.ensure_future(_later(schema, result))
    if keep is not None:
        keep(later)  # at once: the others rendering meanwhile await the same
    return later


async def _later(schema: Any, result: Any) -> str:
    done = await result
    text = _text(schema, done)
    if done.errors:
        raise _WithErrors(text)
    return text


class _WithErrors(Exception):
    """A shared rendering that came out with errors: sent to who asked, never reused."""

    def __init__(self, text: str) -> None:
        super().__init__("rendered with errors")
        self.text = text


def _text(schema: Any, result: ExecutionResult) -> str:
    """The payload as strawberry's transport writes it (errors logged and coded by the schema)."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        schema.process_errors(result.errors)
        payload["errors"] = [error.formatted for error in result.errors]
    return json.dumps(payload)

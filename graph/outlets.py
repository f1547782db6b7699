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
import hashlib
import json
import logging
import time
from collections.abc import Callable, Hashable
from contextvars import ContextVar
from functools import partial
from typing import Any

from graphql import ExecutionResult
from starlette.websockets import WebSocket, WebSocketDisconnect

log = logging.getLogger(__name__)

# The operation being run in this task, when its transport takes hand-overs.
_CURRENT: ContextVar[DirectOutlet | None] = ContextVar("stamm_outlet", default=None)
# The rendered texts of a shared payload, kept on the payload itself (it lives for one change).
_TEXTS = "_stamm_texts"
# Documents remembered per shared payload: a payload can live for hours, and anyone may send new
# documents (a comment makes one), so what it keeps is bounded.
SHARED_DOCUMENTS = 32
CLOSE_SECONDS = 5.0


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
    with the first result): each payload is executed by it as strawberry would, with the payload as
    the root value. Results are queued per key (coalesced) and written by one short-lived task at a
    time, so a slow client delays only itself and its queue never outgrows its keys."""

    __slots__ = (
        "_closed",
        "_closers",
        "_delivered",
        "_document",
        "_drain",
        "_pending",
        "_prefix",
        "_socket",
        "executor",
        "handed_over",
        "schema",
    )

    def __init__(
        self, socket: WebSocket, operation_id: str, schema: Any, delivered: Callable[[float], None]
    ) -> None:
        self._socket = socket
        self._prefix = '{"id":' + json.dumps(operation_id) + ',"type":"next","payload":'
        self.schema = schema
        self._delivered = delivered
        self.executor: Any = None
        self._document: Hashable | None = None  # the operation's document_key, once needed
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
            self.executor = executor

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
        if self._document is None and hasattr(payload, _TEXTS):
            self._document = document_key(self.executor)  # the same for every result
        self._pending[key] = (time.monotonic(), rendered(self.executor, self.schema, payload, self._document))
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_task(self._send_pending())

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


def rendered(
    executor: Any, schema: Any, payload: Any, document: Hashable | None = None
) -> str | asyncio.Future[str]:
    """The `payload` of a `next` message for this operation: executed once per shared payload and
    document (graph/live.py marks shared payloads), else for this operation alone. A rendering
    with errors, or one that failed, is not reused."""
    texts: dict[Hashable, str | asyncio.Future[str]] | None = getattr(payload, _TEXTS, None)
    if texts is None:
        return _render(executor, schema, payload, None)
    key = document if document is not None else document_key(executor)
    found = texts.get(key)
    if found is not None and not _failed(found):
        return found
    return _render(executor, schema, payload, partial(remember, texts, key))


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
    executor: Any, schema: Any, payload: Any, keep: Callable[[Any], None] | None
) -> str | asyncio.Future[str]:
    context = executor.context_value
    fresh = getattr(context, "fresh_loaders", None)
    if fresh is not None:
        fresh()  # loaders never outlive one result
    result = executor.build_per_event_executor(payload).execute_operation(False)
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

"""The event bus: broadcaster behind a small interface (memory:// here, redis:// in production).

One broadcaster subscription per process feeds every local subscriber through a bounded
queue of its own; a slow subscriber loses old events (and is told to re-read the state)
instead of growing memory. Availability changes of one counsellor coalesce: a subscriber
that falls behind gets the latest state, not every intermediate one.

Publishing only queues the event: one sender task per process sends them in order, each with a
timeout, so a Redis that hangs delays no request and a full outbox drops its oldest event (logged).
A lost event is covered by the database: the sweep dispatches the queue periodically, and
subscribers re-read the state when the bus reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager

from broadcaster import Broadcast

from domain.events import CounsellorStateChanged, Event, StateMayBeStale
from domain.stopping import cancel_and_wait
from persistence import event_codec
from persistence.redis_backend import RECONNECTED, ResilientRedisBackend

log = logging.getLogger(__name__)
QUEUE_LIMIT = 256
OUTBOX_LIMIT = 1000
# Sending one event may take this long before it counts as lost (the request never waits for it).
SEND_TIMEOUT = 2.0
# At shutdown, events still in the outbox get this long to leave.
FLUSH_TIMEOUT = 1.0


class EventQueue:
    """A bounded, coalescing queue of one subscriber."""

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        self._limit = limit
        self._items: OrderedDict[Hashable, Event] = OrderedDict()
        self._numbers = itertools.count()
        self._wake = asyncio.Event()
        self._overflowed = False

    def put(self, event: Event) -> None:
        key: Hashable = next(self._numbers)
        if isinstance(event, CounsellorStateChanged):
            key = ("counsellor", event.counsellor.id)
        if key not in self._items and len(self._items) >= self._limit:
            self._items.popitem(last=False)
            self._overflowed = True
        self._items[key] = event
        self._wake.set()

    async def get(self) -> Event:
        while not self._items and not self._overflowed:
            self._wake.clear()
            await self._wake.wait()
        if self._overflowed:
            self._overflowed = False
            return StateMayBeStale()
        return self._items.popitem(last=False)[1]


class EventBus:
    """Publishes committed domain events to every process; local subscribers get them decoded."""

    def __init__(self, url: str, channel: str = "stamm.events", queue_limit: int = QUEUE_LIMIT) -> None:
        self.url = url
        # Redis pub/sub ignores the database number: deployments sharing a Redis need their own channel.
        self.channel = channel
        self._backend = ResilientRedisBackend(url) if url.startswith(("redis://", "rediss://")) else None
        self._broadcast = Broadcast(backend=self._backend) if self._backend else Broadcast(url)
        self._queue_limit = queue_limit
        self._queues: set[EventQueue] = set()
        self._relay: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._outbox: deque[tuple[str, str]] = deque()
        self._outbox_changed = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._sending = False
        self._observers: list[Callable[[Event], None]] = []

    async def connect(self) -> None:
        await self._broadcast.connect()
        self._relay = asyncio.create_task(self._fan_out())
        await self._ready.wait()
        self._sender = asyncio.create_task(self._send())

    async def disconnect(self) -> None:
        if self._sender is not None:
            if self.healthy:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(FLUSH_TIMEOUT):
                        await self.flushed()
            await cancel_and_wait(self._sender)
            if self._outbox:
                log.warning("event lost: %d events not published before shutdown", len(self._outbox))
        await cancel_and_wait(self._relay)
        await self._broadcast.disconnect()

    @property
    def listeners(self) -> int:
        """Local subscribers now (tests wait for a subscription to listen before they act)."""
        return len(self._queues)

    @property
    def healthy(self) -> bool:
        return self._backend is None or self._backend.connected.is_set()

    async def publish(self, event: Event) -> None:
        """Queue an event for sending and return at once; a lost event is logged, never raised."""
        if len(self._outbox) >= OUTBOX_LIMIT:
            kind, _ = self._outbox.popleft()
            log.warning("event lost: %s dropped, the outbox is full", kind)
        self._outbox.append((type(event).__name__, event_codec.encode(event)))
        self._outbox_changed.set()

    async def flushed(self) -> None:
        """Return once every event queued so far has been sent or given up on."""
        while self._outbox or self._sending:
            self._outbox_changed.clear()
            await self._outbox_changed.wait()

    async def _send(self) -> None:
        while True:
            while not self._outbox:
                self._outbox_changed.clear()
                await self._outbox_changed.wait()
            kind, message = self._outbox.popleft()
            self._sending = True
            try:
                async with asyncio.timeout(SEND_TIMEOUT):
                    await self._broadcast.publish(self.channel, message)
            except Exception as exc:
                log.warning("event lost: %s not published (%s)", kind, type(exc).__name__)
            finally:
                self._sending = False
                self._outbox_changed.set()

    async def _fan_out(self) -> None:
        async with self._broadcast.subscribe(self.channel) as subscriber:
            self._ready.set()
            while True:
                message = await subscriber.get()
                try:
                    event = (
                        StateMayBeStale()
                        if message.message == RECONNECTED
                        else event_codec.decode(message.message)
                    )
                except (ValueError, KeyError, TypeError):
                    log.warning("ignored a malformed event on the bus")
                    continue
                for observe in list(self._observers):
                    try:
                        observe(event)
                    except Exception:
                        log.exception("an event observer failed")
                for queue in list(self._queues):
                    queue.put(event)

    def observe(self, observer: Callable[[Event], None]) -> None:
        """Call `observer` with every event received, in order, before any subscriber gets it
        (a process-wide view kept current by the events is then current when subscribers read it).
        It must not block: it runs in the relay."""
        self._observers.append(observer)

    def unobserve(self, observer: Callable[[Event], None]) -> None:
        with contextlib.suppress(ValueError):
            self._observers.remove(observer)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[Event]]:
        """Events published from now on, as long as the context is open."""
        queue = EventQueue(self._queue_limit)
        self._queues.add(queue)

        async def events() -> AsyncIterator[Event]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            self._queues.discard(queue)

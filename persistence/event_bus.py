"""The event bus: broadcaster behind a small interface (memory:// here, redis:// in production).

One broadcaster subscription per process feeds every local subscriber through a bounded
queue of its own; a slow subscriber loses old events (and is told to re-read the state)
instead of growing memory. Availability changes of one counsellor coalesce: a subscriber
that falls behind gets the latest state, not every intermediate one.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

from broadcaster import Broadcast

from domain.events import CounsellorStateChanged, Event, StateMayBeStale
from persistence import event_codec
from persistence.redis_backend import RECONNECTED, ResilientRedisBackend
from persistence.stopping import cancel_and_wait

log = logging.getLogger(__name__)
QUEUE_LIMIT = 256


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

    async def connect(self) -> None:
        await self._broadcast.connect()
        self._relay = asyncio.create_task(self._fan_out())
        await self._ready.wait()

    async def disconnect(self) -> None:
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
        """Send an event; a failure is logged as a lost event, never raised (the database is the truth)."""
        try:
            await self._broadcast.publish(self.channel, event_codec.encode(event))
        except Exception as exc:
            log.warning("event lost: %s not published (%s)", type(event).__name__, type(exc).__name__)

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
                for queue in list(self._queues):
                    queue.put(event)

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

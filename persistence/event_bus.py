"""The event bus: broadcaster behind a small interface (memory:// here, redis:// in production).

One broadcaster subscription per process feeds the local subscribers. Each listens to topics
(domain/live.py: a counsellor, a client, a request, ...) and gets only the events of those topics,
so an event costs in proportion to who may care about it. A subscriber reads its events through a
bounded queue of its own (a slow one loses old events, and is told to re-read the state, instead
of growing memory; availability changes of one counsellor coalesce), or takes them at once in a
callback that must not block (`listen`).

Publishing only queues the event: one sender task per process sends them in order, each with a
timeout, so a Redis that hangs delays no request and a full outbox drops its oldest event (logged).
A lost event is covered by the database: the sweep dispatches the queue periodically, and
subscribers catch up from the database (domain/use_cases/catch_up.py) when told that events may be
lost, with the time from which they may be (`StateMayBeStale.since`):
- the bus reconnected to Redis: from a margin before the loss was noticed (redis_backend.GAP_MARGIN);
- a subscriber's queue overflowed: from the oldest change whose event it dropped;
- this process failed to publish an event (timeout, full outbox): once publishing works again, it
  publishes a StateMayBeStale from that event's change to every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from broadcaster import Broadcast

from domain.events import CounsellorStateChanged, Event, StateMayBeStale, occurred_at
from domain.live import Topic, topics_of
from domain.observer import NULL_OBSERVER, BusObserver
from domain.stopping import cancel_and_wait
from persistence import event_codec
from persistence.redis_backend import ResilientRedisBackend, gap_began

log = logging.getLogger(__name__)
QUEUE_LIMIT = 256
OUTBOX_LIMIT = 1000
# Sending one event may take this long before it counts as lost (the request never waits for it).
SEND_TIMEOUT = 2.0
# At shutdown, events still in the outbox get this long to leave.
FLUSH_TIMEOUT = 1.0
# A notice of lost events that could not be published is tried again this often.
NOTICE_RETRY = 1.0


def _changed_at(event: Event) -> datetime:
    """When an event's change was made; for an event that does not say (a counsellor's state, which
    subscribers re-read whole), now: later than any change it could stand for."""
    return occurred_at(event) or datetime.now(UTC)


class EventQueue:
    """A bounded, coalescing queue of one subscriber. `arrived` is when the event `get` returned
    last reached this process (the fan-out metric measures from there)."""

    def __init__(self, limit: int = QUEUE_LIMIT, observer: BusObserver = NULL_OBSERVER) -> None:
        self._limit = limit
        self._observer = observer
        self._items: OrderedDict[Hashable, tuple[float, Event]] = OrderedDict()
        self.arrived = 0.0
        self._numbers = itertools.count()
        self._wake = asyncio.Event()
        # Set when an event was dropped: the oldest change whose event was dropped.
        self._gap_began: datetime | None = None

    def take(self, event: Event) -> None:
        self.put(event)

    def put(self, event: Event) -> None:
        key: Hashable = next(self._numbers)
        if isinstance(event, CounsellorStateChanged):
            key = ("counsellor", event.counsellor.id)
        if key not in self._items and len(self._items) >= self._limit:
            dropped_at = _changed_at(self._items.popitem(last=False)[1][1])
            if self._gap_began is None:
                log.warning("a subscriber fell behind: events dropped; it catches up from the database")
            self._gap_began = min(dropped_at, self._gap_began or dropped_at)
        self._items[key] = (time.monotonic(), event)
        self._wake.set()

    async def get(self) -> Event:
        """The next event; after a drop, first a StateMayBeStale from the oldest dropped change."""
        while not self._items and self._gap_began is None:
            self._wake.clear()
            await self._wake.wait()
        if self._gap_began is not None:
            began, self._gap_began = self._gap_began, None
            self._observer.bus_gap("overflow")
            self.arrived = time.monotonic()
            return StateMayBeStale(began)
        self.arrived, event = self._items.popitem(last=False)[1]
        return event


class EventBus:
    """Publishes committed domain events to every process; local subscribers get them decoded."""

    def __init__(
        self,
        url: str,
        channel: str = "stamm.events",
        queue_limit: int = QUEUE_LIMIT,
        observer: BusObserver = NULL_OBSERVER,
    ) -> None:
        self.url = url
        self._observer = observer
        # Redis pub/sub ignores the database number: deployments sharing a Redis need their own channel.
        self.channel = channel
        self._backend = ResilientRedisBackend(url) if url.startswith(("redis://", "rediss://")) else None
        self._broadcast = Broadcast(backend=self._backend) if self._backend else Broadcast(url)
        self._queue_limit = queue_limit
        self._topics = Topics()
        self._relay: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._outbox: deque[tuple[str, str, datetime]] = deque()
        self._outbox_changed = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._sending = False
        # The oldest change whose event this process failed to publish, until every process is told.
        self._lost_since: datetime | None = None
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
        return self._topics.receivers

    @property
    def healthy(self) -> bool:
        return self._backend is None or self._backend.connected.is_set()

    async def publish(self, event: Event) -> None:
        """Queue an event for sending and return at once; a lost event is logged, never raised."""
        if len(self._outbox) >= OUTBOX_LIMIT:
            kind, _, changed_at = self._outbox.popleft()
            log.warning("event lost: %s dropped, the outbox is full", kind)
            self._note_lost(changed_at)
            self._observer.event_lost(kind)
        self._outbox.append((type(event).__name__, event_codec.encode(event), _changed_at(event)))
        self._outbox_changed.set()

    def _note_lost(self, changed_at: datetime) -> None:
        self._lost_since = min(changed_at, self._lost_since or changed_at)

    async def flushed(self) -> None:
        """Return once every event queued so far has been sent or given up on."""
        while self._outbox or self._sending:
            self._outbox_changed.clear()
            await self._outbox_changed.wait()

    async def _send(self) -> None:
        while True:
            while not self._outbox and self._lost_since is None:
                self._outbox_changed.clear()
                await self._outbox_changed.wait()
            if self._outbox:
                kind, message, changed_at = self._outbox.popleft()
                if not await self._publish(kind, message):
                    self._note_lost(changed_at)
            else:
                await self._tell_lost()

    async def _tell_lost(self) -> None:
        """Every process's subscribers catch up from the oldest change whose event was lost here."""
        lost_since = self._lost_since
        notice = event_codec.encode(StateMayBeStale(lost_since))
        if not await self._publish("StateMayBeStale", notice, quiet=True):
            self._outbox_changed.clear()  # retry after a while, or send a new event first
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(NOTICE_RETRY):
                    await self._outbox_changed.wait()
        elif self._lost_since == lost_since:  # else an older loss came meanwhile: tell that too
            self._lost_since = None

    async def _publish(self, kind: str, message: str, *, quiet: bool = False) -> bool:
        """Send one message; False (logged, unless `quiet`: a notice retried) when it is lost."""
        self._sending = True
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await self._broadcast.publish(self.channel, message)
            return True
        except Exception as exc:
            if not quiet:
                log.warning("event lost: %s not published (%s)", kind, type(exc).__name__)
                self._observer.event_lost(kind)
            return False
        finally:
            self._sending = False
            self._outbox_changed.set()

    async def _fan_out(self) -> None:
        async with self._broadcast.subscribe(self.channel) as subscriber:
            self._ready.set()
            while True:
                message = await subscriber.get()
                try:
                    began = gap_began(message.message)
                    event = (
                        StateMayBeStale(began) if began is not None else event_codec.decode(message.message)
                    )
                except (ValueError, KeyError, TypeError):
                    log.warning("ignored a malformed event on the bus")
                    continue
                if began is not None:
                    self._observer.bus_gap("reconnect")
                else:
                    self._observer.event_received(type(event).__name__)
                for observe in list(self._observers):
                    try:
                        observe(event)
                    except Exception:
                        log.exception("an event observer failed")
                self._topics.deliver(event)

    def observe(self, observer: Callable[[Event], None]) -> None:
        """Call `observer` with every event received, in order, before any subscriber gets it
        (a process-wide view kept current by the events is then current when subscribers read it).
        It must not block: it runs in the relay."""
        self._observers.append(observer)

    def unobserve(self, observer: Callable[[Event], None]) -> None:
        with contextlib.suppress(ValueError):
            self._observers.remove(observer)

    @asynccontextmanager
    async def subscribe(self, topics: Iterable[Topic] | None = None) -> AsyncIterator[EventStream]:
        """Events published from now on, as long as the context is open: of `topics` (more can be
        listened to on the way), or every event when None."""
        queue = EventQueue(self._queue_limit, self._observer)
        listening = self._topics.add(queue, topics)
        try:
            yield EventStream(queue, listening, self._observer)
        finally:
            listening.close()

    def listen(self, topics: Iterable[Topic] | None, receiver: Receiver) -> Listening:
        """Call `receiver.take` with each event of `topics` (every event when None) until closed.
        It runs in the relay, so it must not block; events that say events were lost reach it
        whatever it listens to."""
        return self._topics.add(receiver, topics)


class Receiver(Protocol):
    """What listens to topics: takes each event at once, in the relay."""

    def take(self, event: Event) -> None: ...


class Topics:
    """Who listens to which topic; delivers each event to the listeners of its topics."""

    def __init__(self) -> None:
        self._by_topic: dict[Topic, set[Any]] = {}
        self._everything: set[Any] = set()
        self._all: set[Any] = set()

    @property
    def receivers(self) -> int:
        return len(self._all)

    def add(self, receiver: Any, topics: Iterable[Topic] | None) -> Listening:
        self._all.add(receiver)
        listening = Listening(self, receiver)
        if topics is None:
            self._everything.add(receiver)
        else:
            for topic in topics:
                listening.listen(topic)
        return listening

    def deliver(self, event: Event) -> None:
        if isinstance(event, StateMayBeStale):
            found: Iterable[Any] = list(self._all)
        else:
            found = set(self._everything)
            for topic in topics_of(event):
                found.update(self._by_topic.get(topic, ()))
        for receiver in found:
            try:
                receiver.take(event)
            except Exception:
                log.exception("a subscriber failed to take an event")

    def subscribe(self, topic: Topic, receiver: Any) -> None:
        self._by_topic.setdefault(topic, set()).add(receiver)

    def unsubscribe(self, topic: Topic, receiver: Any) -> None:
        listeners = self._by_topic.get(topic)
        if listeners is not None:
            listeners.discard(receiver)
            if not listeners:
                del self._by_topic[topic]

    def remove(self, receiver: Any, topics: Iterable[Topic]) -> None:
        for topic in topics:
            self.unsubscribe(topic, receiver)
        self._everything.discard(receiver)
        self._all.discard(receiver)


class Listening:
    """One receiver's topics; `close` stops its events."""

    __slots__ = ("_receiver", "_topics", "_where")

    def __init__(self, where: Topics, receiver: Any) -> None:
        self._where = where
        self._receiver = receiver
        self._topics: set[Topic] = set()

    def listen(self, topic: Topic) -> None:
        if topic not in self._topics:
            self._topics.add(topic)
            self._where.subscribe(topic, self._receiver)

    def ignore(self, topic: Topic) -> None:
        if topic in self._topics:
            self._topics.discard(topic)
            self._where.unsubscribe(topic, self._receiver)

    def close(self) -> None:
        self._where.remove(self._receiver, self._topics)
        self._topics = set()


class EventStream:
    """One subscriber's events, in order (an async iterator), and the topics it listens to."""

    def __init__(self, queue: EventQueue, listening: Listening, observer: BusObserver) -> None:
        self._queue = queue
        self._listening = listening
        self._observer = observer
        self._returned = False

    def listen(self, topic: Topic) -> None:
        self._listening.listen(topic)

    def ignore(self, topic: Topic) -> None:
        self._listening.ignore(topic)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        # The subscriber asks for the next event once it has handled (sent or skipped) the last one.
        if self._returned:
            self._observer.delivered(time.monotonic() - self._queue.arrived)
        event = await self._queue.get()
        self._returned = True
        return event

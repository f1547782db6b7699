"""A broadcaster backend for Redis that survives Redis restarts.

broadcaster's own RedisBackend swallows connection errors and never reconnects (upstream
issues #142, #144; the project is archived). This one re-opens the pub/sub connection with
backoff, re-subscribes, and then emits RECONNECTED on each channel so that subscribers re-read
the current state from the database (Redis pub/sub keeps nothing for absent listeners). The
message names when the gap began (`reconnected_message`): subscribers catch up from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend
from redis import asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from domain.stopping import cancel_and_wait

log = logging.getLogger(__name__)
RECONNECTED = "__stamm_bus_reconnected__"
_LOST = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)
FIRST_BACKOFF = 0.1
# Redis is tried again at least this often: a chat assigned while it was down reaches its
# counsellor within a few seconds of its return (the catch-up follows the reconnect).
MAX_BACKOFF = 2.0
# How long before the loss of the connection was noticed an event may already have been lost: a
# Redis that stops answering is noticed by the health check (every 5 s, then the 2 s socket
# timeout), and a lost event's change was stamped when its transaction began, before its commit and
# its send (up to 2 s). The gap is taken to begin this much before the loss was noticed.
GAP_MARGIN = timedelta(seconds=15)


def reconnected_message(gap_began: datetime) -> str:
    return f"{RECONNECTED} {gap_began.isoformat()}"


def gap_began(message: str) -> datetime | None:
    """When the gap of a RECONNECTED message began; None for any other message."""
    if not message.startswith(RECONNECTED):
        return None
    _, _, moment = message.partition(" ")
    return datetime.fromisoformat(moment) if moment else datetime.now(UTC) - GAP_MARGIN


class ResilientRedisBackend(BroadcastBackend):
    def __init__(self, url: str, timeout: float = 2.0) -> None:
        self._url = url
        self._timeout = timeout
        self._publisher = self._client()
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._listener: asyncio.Task[None] | None = None
        self._pubsub: Any = None
        self.connected = asyncio.Event()
        # Set when the connection is lost (or never made), cleared once subscribers were told.
        self._gap_began: datetime | None = None
        # One pub/sub connection at a time: a subscribe racing the listener's would open a second.
        self._lock = asyncio.Lock()

    def _client(self) -> redis.Redis:
        # Reads of pub/sub messages pass their own timeout; the socket timeout bounds the rest (the
        # handshake, a command): a Redis that accepts but never answers must not hold the lock forever.
        return redis.Redis.from_url(
            self._url,
            socket_connect_timeout=self._timeout,
            socket_timeout=self._timeout,
            health_check_interval=5,
        )

    async def connect(self) -> None:
        self._listener = asyncio.create_task(self._listen())
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout):
                await self.connected.wait()

    async def disconnect(self) -> None:
        await cancel_and_wait(self._listener)
        with contextlib.suppress(Exception):
            await self._publisher.aclose()

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            self._channels.add(channel)
            if self._pubsub is not None:
                with contextlib.suppress(*_LOST):
                    await self._pubsub.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        """Best effort and bounded: on shutdown the listener may hold the lock while Redis is slow,
        and redis-py fails on a connection Redis just dropped (AttributeError, not ConnectionError);
        a connection that is closed anyway needs no UNSUBSCRIBE."""
        self._channels.discard(channel)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._timeout), self._lock:
                if self._pubsub is not None:
                    await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        """Raises when Redis is unreachable; the caller decides what a lost event means."""
        async with asyncio.timeout(self._timeout):
            await self._publisher.publish(channel, message)

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _listen(self) -> None:
        backoff, first = FIRST_BACKOFF, True
        while True:
            client = self._client()
            try:
                async with self._lock:
                    self._pubsub = client.pubsub(ignore_subscribe_messages=True)
                    # A Redis that accepts connections but never answers must not hold the lock
                    # (and with it the start of the process) forever.
                    async with asyncio.timeout(self._timeout):
                        await self._pubsub.subscribe(*(self._channels or {RECONNECTED}))
                self.connected.set()
                if not first:
                    log.warning("event bus reconnected to Redis")
                    began = self._gap_began or datetime.now(UTC) - GAP_MARGIN
                    for channel in self._channels:
                        await self._queue.put(Event(channel, reconnected_message(began)))
                self._gap_began = None
                first, backoff = False, FIRST_BACKOFF
                await self._relay()
            except asyncio.CancelledError:
                raise
            except _LOST as exc:
                if self.connected.is_set():
                    log.warning("event bus lost Redis (%s); reconnecting", type(exc).__name__)
                self.connected.clear()
                if self._gap_began is None:
                    self._gap_began = datetime.now(UTC) - GAP_MARGIN
                first = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            finally:
                pubsub, self._pubsub = self._pubsub, None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _relay(self) -> None:
        while True:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is not None and message["type"] == "message":
                data = message["data"]
                text = data.decode() if isinstance(data, bytes) else str(data)
                await self._queue.put(Event(message["channel"].decode(), text))

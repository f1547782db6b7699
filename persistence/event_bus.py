"""The event bus: broadcaster behind a small interface (memory:// here, redis:// in production)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from broadcaster import Broadcast

from domain.events import Event
from persistence import event_codec

log = logging.getLogger(__name__)
CHANNEL = "stamm.events"


class EventBus:
    """Publishes committed domain events to every process; subscribers get them decoded."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._broadcast = Broadcast(url)

    async def connect(self) -> None:
        await self._broadcast.connect()

    async def disconnect(self) -> None:
        await self._broadcast.disconnect()

    async def publish(self, event: Event) -> None:
        """Send an event; a failure is logged as a lost event, never raised (the database is the truth)."""
        try:
            await self._broadcast.publish(CHANNEL, event_codec.encode(event))
        except Exception:
            log.warning("event lost: %s could not be published", type(event).__name__, exc_info=True)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[Event]]:
        """Events published from now on, as long as the context is open."""
        async with self._broadcast.subscribe(CHANNEL) as subscriber:

            async def events() -> AsyncIterator[Event]:
                async for message in subscriber:  # type: ignore[union-attr]
                    if message is not None:
                        yield event_codec.decode(message.message)

            yield events()

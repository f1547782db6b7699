"""An event this process could not publish is not lost for good: once Redis answers again, every
process is told to catch up from that event's change (persistence/event_bus.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from domain.events import Event, RequestChanged, StateMayBeStale
from domain.model import Channel, Request, RequestStatus
from persistence.event_bus import EventBus
from tests.faults.support import RedisServer
from tests.support.feeds import EVENT_TIMEOUT

# Long before any gap a reconnect names (those are a few seconds before now).
LOST_CHANGE_AT = datetime(2020, 1, 1, 9, 0, tzinfo=UTC)


def _lost_change() -> RequestChanged:
    request = Request(
        id=7,
        client_id=1,
        channel=Channel.CHAT,
        status=RequestStatus.ASSIGNED,
        message=None,
        created_at=LOST_CHANGE_AT,
        counsellor_id=3,
        assigned_at=LOST_CHANGE_AT,
        updated_at=LOST_CHANGE_AT,
    )
    return RequestChanged(request, assigned=True)


async def test_a_process_that_lost_an_event_tells_every_process_to_catch_up_from_it(
    redis_server: RedisServer,
) -> None:
    publisher, listener = EventBus(redis_server.url), EventBus(redis_server.url)
    await publisher.connect()
    await listener.connect()
    try:
        async with listener.subscribe() as events:
            redis_server.kill()
            await publisher.publish(_lost_change())
            await publisher.flushed()  # tried and given up on: Redis is gone
            redis_server.start()

            async def told() -> Event:
                while True:
                    event = await anext(events)
                    if isinstance(event, StateMayBeStale) and event.since == LOST_CHANGE_AT:
                        return event

            async with asyncio.timeout(EVENT_TIMEOUT):
                await told()
    finally:
        await publisher.disconnect()
        await listener.disconnect()

"""A server stops promptly whatever its Redis does: down, or accepting connections and never answering.

uvicorn waits without limit for the app's lifespan to finish shutting down, so a background task
that does not end, or a bus that waits on Redis, hangs the whole process.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from domain.events import StateMayBeStale
from domain.stopping import cancel_and_wait
from persistence.event_bus import EventBus
from tests.e2e.support import free_port, start_server, stop_server
from tests.faults.support import RedisServer, SilentListener, app_config

# Bounds how long stopping takes.
pytestmark = pytest.mark.serial

# The bus gives up on Redis after 2 s (connect, handshake, publish); this leaves slack for a loaded machine.
PROMPTLY = 10.0


async def test_a_bus_starts_and_stops_promptly_while_redis_never_answers(
    silent_redis: SilentListener,
) -> None:
    bus = EventBus(silent_redis.url)
    async with asyncio.timeout(PROMPTLY):
        await bus.connect()
    assert not bus.healthy
    async with bus.subscribe():
        async with asyncio.timeout(PROMPTLY):
            await bus.disconnect()


async def test_a_bus_stops_promptly_while_redis_is_down(redis_server: RedisServer) -> None:
    bus = EventBus(redis_server.url)
    await bus.connect()
    assert bus.healthy
    async with bus.subscribe():
        redis_server.kill()
        await bus.publish(StateMayBeStale())  # lost, logged, not raised
        async with asyncio.timeout(PROMPTLY):
            await bus.disconnect()


async def test_stopping_ends_a_task_that_swallowed_its_cancellation() -> None:
    """As a loop around Python 3.11's asyncio.wait_for does when its result and the cancel coincide."""
    first_cancel = asyncio.Event()
    forever = asyncio.Event()

    async def swallowing() -> None:
        try:
            await forever.wait()
        except asyncio.CancelledError:
            first_cancel.set()
        await forever.wait()

    task = asyncio.create_task(swallowing())
    await asyncio.sleep(0)
    async with asyncio.timeout(PROMPTLY):
        await cancel_and_wait(task)
    assert first_cancel.is_set()
    assert task.cancelled()


def test_a_server_stops_promptly_while_its_redis_is_down(redis_server: RedisServer, tmp_path: Path) -> None:
    port = free_port()
    config = app_config(f"sqlite+aiosqlite:///{tmp_path / 'stamm.db'}", redis_server.url, port, tmp_path)
    live = start_server(config, port)
    redis_server.kill()
    started = time.monotonic()
    stop_server(live, within=PROMPTLY + 5)  # uvicorn's graceful wait for connections is 5 s
    assert time.monotonic() - started < PROMPTLY + 5

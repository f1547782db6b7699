"""A Redis that accepts connections but never answers: requests stay fast and no pool runs dry.

The event bus points at a TCP listener on 127.0.0.1 that accepts every connection and never
sends a byte. Publishing only queues the event (a sender gives up on it after a timeout), so
mutations answer as quickly as without a bus, and none holds a database connection while an
event waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.events import StateMayBeStale
from persistence.event_bus import EventBus
from tests.e2e.support import (
    LiveServer,
    create_counsellor,
    free_port,
    register_client,
    start_server,
    stop_server,
    submit,
)
from tests.faults.support import SilentListener, app_config, request_once

# Bounds how long publishing and mutations take.
pytestmark = pytest.mark.serial

# What a hung bus may add to a request, at most.
BOUND_SECONDS = 0.1
# A mutation on this machine, with slack for a loaded CI host; far below the bus's send timeout.
MUTATION_SECONDS = 1.0
SEQUENTIAL = 30
PARALLEL = 30

SET_ONLINE = """
mutation ($status: OnlineStatus!, $id: ID) { setOnlineStatus(status: $status, counsellorId: $id) { id } }"""
CLOSE = "mutation ($id: ID!) { closeRequest(id: $id) { id status } }"


@pytest.fixture
def hung_bus_app(database_url: str, silent_redis: SilentListener, tmp_path: Path) -> Iterator[LiveServer]:
    """A live server whose event bus is the silent listener."""
    port = free_port()
    live = start_server(app_config(database_url, silent_redis.url, port, tmp_path), port)
    try:
        yield live
    finally:
        stop_server(live)


async def test_publishing_to_a_hung_redis_returns_at_once(silent_redis: SilentListener) -> None:
    bus = EventBus(silent_redis.url)
    await bus.connect()
    try:
        started = time.monotonic()
        for _ in range(100):
            await bus.publish(StateMayBeStale())
        assert time.monotonic() - started < BOUND_SECONDS
        assert silent_redis.connections >= 1  # the bus did talk to the listener
    finally:
        await bus.disconnect()


async def _timed(live: LiveServer, token: str, query: str, **variables: object) -> float:
    started = time.monotonic()
    await live.call(token, query, **variables)
    return time.monotonic() - started


async def test_mutations_answer_quickly_and_exhaust_no_pool_while_redis_hangs(
    hung_bus_app: LiveServer, silent_redis: SilentListener
) -> None:
    live = hung_bus_app
    admin = await live.admin_token()
    anna = await create_counsellor(live, admin, "Anna", login_now=False)
    await live.call(admin, SET_ONLINE, status="ONLINE", id=anna.id)
    kim, lou = await register_client(live, "Kim"), await register_client(live, "Lou")
    held, queued = await submit(live, kim.token), await submit(live, lou.token)
    assert (held["status"], queued["status"]) == ("ASSIGNED", "QUEUED")

    sequential = [
        await _timed(live, admin, SET_ONLINE, status=("AWAY", "ONLINE")[i % 2], id=anna.id)
        for i in range(SEQUENTIAL)
    ]
    assert max(sequential) < MUTATION_SECONDS, sequential

    # More mutations at once than the pool has connections: each commits and answers (an
    # exhausted pool would answer SERVICE_UNAVAILABLE, which `call` raises).
    answers = await asyncio.gather(
        *(live.call(admin, SET_ONLINE, status=("AWAY", "ONLINE")[i % 2], id=anna.id) for i in range(PARALLEL))
    )
    assert [a["setOnlineStatus"]["id"] for a in answers] == [anna.id] * PARALLEL

    # Closing answers at once; the queued chat gets the freed slot without any event arriving.
    await live.call(admin, SET_ONLINE, status="ONLINE", id=anna.id)
    assert await _timed(live, admin, CLOSE, id=held["id"]) < MUTATION_SECONDS
    assert await request_once(live, lou.token, queued["id"], "ASSIGNED") == {
        "id": queued["id"],
        "status": "ASSIGNED",
        "counsellor": {"id": anna.id},
    }
    assert silent_redis.connections >= 1

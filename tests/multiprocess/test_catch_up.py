"""No event is lost for good, across two processes: after a bus gap every subscription catches up
from the database (domain/use_cases/catch_up.py).

Processes A and B share a PostgreSQL database and a redis-server of this module's own (never the
shared one), which a test kills and starts again. A counsellor listens on A; what happens on B
while Redis is down, or while A is too slow to take its events, still reaches her. Each wait is
for the event itself; its bound only ends a failing test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from persistence.event_bus import QUEUE_LIMIT
from tests.faults.support import RedisServer
from tests.multiprocess.conftest import fresh_database
from tests.multiprocess.support import (
    Api,
    Cluster,
    Feed,
    Node,
    Staff,
    needs_services,
    node,
    subscribed,
    ws_client,
)
from tests.support.feeds import field_is
from tests.support.server import NotReady, free_port
from tests.support.waiting import eventually

pytestmark = needs_services

ASSIGNED = """
subscription ($since: DateTime) { requestAssigned(since: $since) { id status counsellor { id } } }"""

CHANGE_PRIMARY = """
mutation ($input: ChangePrimaryCounsellorInput!) { changePrimaryCounsellor(input: $input) { id } }"""

# Redis is tried again at most every 2 s (redis_backend.MAX_BACKOFF) and the catch-up is one read:
# the target is 5 s; this bound only ends a failing test.
CAUGHT_UP_WITHIN = 15.0
# More events than a subscriber's queue holds, none of which coalesce (primary changes).
BURST = QUEUE_LIMIT + 64
BURST_CLIENTS = 8


@pytest.fixture(scope="module")
def bus_redis() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def cluster(bus_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Processes A and B on a new database and the module's own Redis (overrides conftest's)."""
    folder = tmp_path_factory.mktemp("catch-up")
    with fresh_database() as database_url:
        nodes = [node(name, database_url, bus_redis.url, folder) for name in ("A", "B")]
        try:
            for started in nodes:
                try:
                    started.start()
                except NotReady as exc:
                    pytest.fail(str(exc), pytrace=False)
            yield Cluster(nodes[0], nodes[1], database_url)
        finally:
            for started in nodes:
                started.stop()


async def _ready(http: httpx.AsyncClient, nodes: tuple[Node, ...], status: int) -> None:
    """Every process's /readyz answers `status` (503 while its bus is down)."""

    async def answered() -> bool:
        for each in nodes:
            if (await http.get(f"{each.base_url}/readyz")).status_code != status:
                return False
        return True

    await eventually(answered, f"/readyz {status} on every process", within=CAUGHT_UP_WITHIN)


async def _probe(api: Api, cluster: Cluster, anna: Staff, feed: Feed) -> str:
    """The counsellor's requestAssigned on A works: a probe chat reached it (by the catch-up from
    just before it subscribed, or live). Its assignment was the last event of its transaction: once
    it arrived, the subscription on A waits for the next event. Returns the probe's id."""
    probe = await api.register_client(cluster.b, "Probe")
    routed = await api.submit(cluster.b, probe)
    assert routed["counsellor"]["id"] == anna.id, routed
    await feed.wait_for(field_is("requestAssigned", id=routed["id"]), CAUGHT_UP_WITHIN)
    probe_id: str = routed["id"]
    return probe_id


def _a_moment_ago() -> str:
    return (datetime.now(UTC) - timedelta(seconds=1)).isoformat()


async def test_a_chat_assigned_while_redis_is_down_reaches_the_counsellor_after_it_returns(
    cluster: Cluster, api: Api, admin: Staff, http: httpx.AsyncClient, bus_redis: RedisServer
) -> None:
    anna = await api.create_counsellor(cluster.b, admin, "Anna", online=True)
    kim = await api.register_client(cluster.b, "Kim")
    async with (
        ws_client(cluster.a, anna.token) as session,
        subscribed(session, ASSIGNED, name="requestAssigned", since=_a_moment_ago()) as feed,
    ):
        await api.close(cluster.b, anna, await _probe(api, cluster, anna, feed))

        bus_redis.kill()
        await _ready(http, cluster.nodes, 503)  # both processes noticed
        routed = await api.submit(cluster.b, kim)  # committed; its events are lost
        assert (routed["status"], routed["counsellor"]) == ("ASSIGNED", {"id": anna.id}), routed
        bus_redis.start()

        got = await feed.wait_for(field_is("requestAssigned", id=routed["id"]), CAUGHT_UP_WITHIN)
        assert got["requestAssigned"]["status"] == "ASSIGNED"
        await _ready(http, cluster.nodes, 200)
    cluster.assert_alive()


async def test_a_subscriber_too_slow_for_its_events_still_gets_the_chat_assigned_meanwhile(
    cluster: Cluster, api: Api, admin: Staff
) -> None:
    bea = await api.create_counsellor(cluster.b, admin, "Bea", capacity=2, online=True)
    kim = await api.register_client(cluster.b, "Kim")
    toggled = [await api.register_client(cluster.b, f"Toggle {n}") for n in range(BURST_CLIENTS)]

    async def change_primary(client_id: str, counsellor_id: str | None) -> None:
        await api.call(
            cluster.b,
            admin.token,
            CHANGE_PRIMARY,
            input={"clientId": client_id, "counsellorId": counsellor_id},
        )

    async with (
        ws_client(cluster.a, bea.token) as session,
        subscribed(session, ASSIGNED, name="requestAssigned", since=_a_moment_ago()) as feed,
    ):
        await _probe(api, cluster, bea, feed)  # holds one of her two slots: A is idle now
        overflows_before = cluster.a.log().count("a subscriber fell behind")

        # A stops taking events (SIGSTOP): Redis keeps them for it. Meanwhile, on B, Kim's
        # chat goes to Bea first, then more primary changes than A's queues hold follow. (A timer
        # of A that was running when it stopped may time out when it goes on: the sweep logs it.)
        os.kill(cluster.a.pid, signal.SIGSTOP)
        try:
            routed = await api.submit(cluster.b, kim)
            assert routed["counsellor"] == {"id": bea.id}, routed
            for n in range(BURST // BURST_CLIENTS + 1):
                target = bea.id if n % 2 == 0 else None
                await asyncio.gather(*(change_primary(client.id, target) for client in toggled))
        finally:
            os.kill(cluster.a.pid, signal.SIGCONT)

        # A takes the burst at once: the oldest events (Kim's assignment among them) are dropped,
        # and the subscription catches up from the database.
        got = await feed.wait_for(field_is("requestAssigned", id=routed["id"]), CAUGHT_UP_WITHIN)
        assert got["requestAssigned"]["status"] == "ASSIGNED"

        async def overflowed() -> bool:
            return cluster.a.log().count("a subscriber fell behind") > overflows_before

        await eventually(overflowed, "a queue overflow logged by A", within=CAUGHT_UP_WITHIN)
    cluster.assert_alive()

"""Redis goes away and comes back: requests keep working, subscribers catch up with the state.

The app runs in process on a live uvicorn server with a fresh SQLite file and a redis-server
of the test's own (see conftest.py), which the test kills with SIGKILL and starts again on the
same port. The bus is lossy by design (pub/sub keeps nothing), so what the test checks is the
recovery: mutations still commit while Redis is down, the websockets stay open, and after the
restart every subscriber is sent the current state (showing what changed meanwhile) and then
each later change.

EventQueue, the bounded coalescing queue of one local subscriber, is tested directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain import model
from domain.events import CounsellorStateChanged, Event, RequestChanged, StateMayBeStale
from domain.model import Channel, OnlineStatus, RequestStatus, StaffRole
from domain.model import Counsellor as DomainCounsellor
from domain.model import Request as DomainRequest
from persistence import event_codec
from persistence.event_bus import EventBus, EventQueue
from tests.e2e.support import (
    Feed,
    LiveServer,
    create_counsellor,
    free_port,
    register_client,
    set_online,
    start_server,
    stop_server,
    submit,
    subscription,
)
from tests.faults.support import RedisServer, app_config, request_once
from tests.support.feeds import Predicate, field_is

# Kills and restarts its redis-server on the same port, and bounds how long mutations take.
pytestmark = pytest.mark.serial

# The bus retries with a backoff of at most 2 s: a reconnect shows within that plus slack.
RECONNECT_TIMEOUT = 12.0
# Publishing is after commit and must not hold a mutation up for long while Redis is down.
MUTATION_WHILE_DOWN_SECONDS = 5.0

COUNSELLORS = """
subscription { counsellorAvailabilityChanged { id onlineStatus activeChatCount chatCapacity } }"""

REQUEST_UPDATED = """
subscription ($id: ID) { requestUpdated(id: $id) { id status counsellor { id } } }"""

REQUEST = "query ($id: ID!) { request(id: $id) { id status counsellor { id } } }"

CLOSE = "mutation ($id: ID!) { closeRequest(id: $id) { id status } }"


@pytest.fixture
def redis_app(redis_server: RedisServer, tmp_path: Path) -> Iterator[LiveServer]:
    """A live server on a new SQLite file whose event bus is the test's own Redis."""
    port = free_port()
    config = app_config(f"sqlite+aiosqlite:///{tmp_path / 'stamm.db'}", redis_server.url, port, tmp_path)
    live = start_server(config, port)
    try:
        yield live
    finally:
        stop_server(live)


async def _wait_ready(live: LiveServer, status: int, within: float = RECONNECT_TIMEOUT) -> None:
    """Poll /readyz until it answers `status`."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            response = await client.get(f"{live.base_url}/readyz")
            if response.status_code == status:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"/readyz answered {response.status_code} {response.text}, not {status}")
            await asyncio.sleep(0.05)


def _shows(counsellor_id: str, wanted: Callable[[dict[str, Any]], bool]) -> Predicate:
    """A counsellorAvailabilityChanged result showing `counsellor_id` in the wanted state."""

    def matches(result: dict[str, Any]) -> bool:
        shown = result["counsellorAvailabilityChanged"]
        return bool(shown["id"] == counsellor_id and wanted(shown))

    return matches


async def _counsellor_until(
    feed: Feed, counsellor_id: str, wanted: Callable[[dict[str, Any]], bool], within: float
) -> dict[str, Any]:
    """Skip results until `counsellor_id` is shown in the wanted state (earlier changes may come first)."""
    found = await feed.wait_for(_shows(counsellor_id, wanted), within)
    shown: dict[str, Any] = found["counsellorAvailabilityChanged"]
    return shown


def _assert_open(*feeds: Feed) -> None:
    """The subscriptions are still running (the bus being down must not end them)."""
    for feed in feeds:
        assert feed.task is not None and not feed.task.done(), "a subscription ended while Redis was down"


async def test_requests_work_while_redis_is_down_and_subscribers_catch_up_after_restart(
    redis_app: LiveServer, redis_server: RedisServer
) -> None:
    live = redis_app
    admin = await live.admin_token()
    anna = await create_counsellor(live, admin, "Anna", login_now=False)
    kim = await register_client(live, "Kim")
    kims = await submit(live, kim.token)
    assert kims["status"] == "QUEUED"  # nobody is online yet

    async with (
        live.ws(admin) as admin_ws,
        live.ws(kim.token) as kim_ws,
        subscription(live, admin_ws, COUNSELLORS, listening=False) as counsellors,
        subscription(live, kim_ws, REQUEST_UPDATED, listening=False, id=kims["id"]) as kims_updates,
    ):
        # Current state first (the admin and Anna; Kim's queued request).
        first = [(await counsellors.next())["counsellorAvailabilityChanged"] for _ in range(2)]
        assert {c["id"]: c["onlineStatus"] for c in first}[anna.id] == "OFFLINE"
        assert (await kims_updates.next())["requestUpdated"] == {
            "id": kims["id"],
            "status": "QUEUED",
            "counsellor": None,
        }
        # Events travel through Redis before the fault.
        await set_online(live, admin, "AWAY", anna.id)
        await _counsellor_until(counsellors, anna.id, lambda c: c["onlineStatus"] == "AWAY", 10)

        redis_server.kill()
        await _wait_ready(live, 503)  # the process noticed: not ready while its bus is down

        # Requests are accepted and committed; only their events are lost in transit.
        lea = await register_client(live, "Lea")
        started = time.monotonic()
        leas = await submit(live, lea.token, message="Während Redis weg ist")
        assert time.monotonic() - started < MUTATION_WHILE_DOWN_SECONDS
        assert leas["status"] == "QUEUED"
        assert leas["id"] != kims["id"]

        # Anna comes online: the dispatcher gives her the oldest queued chat (Kim's).
        started = time.monotonic()
        await set_online(live, admin, "ONLINE", anna.id)
        assert time.monotonic() - started < MUTATION_WHILE_DOWN_SECONDS
        stored = await request_once(live, kim.token, kims["id"], "ASSIGNED")
        assert stored == {"id": kims["id"], "status": "ASSIGNED", "counsellor": {"id": anna.id}}
        leas_stored = (await live.call(lea.token, REQUEST, id=leas["id"]))["request"]
        assert leas_stored["status"] == "QUEUED"  # Anna has one chat slot; Lea waits, not lost

        # Their events are lost (pub/sub keeps nothing); the websockets are still open.
        _assert_open(counsellors, kims_updates)

        redis_server.start()

        # After the reconnect every subscriber is sent the current state, with what it missed.
        await _counsellor_until(
            counsellors,
            anna.id,
            lambda c: c["onlineStatus"] == "ONLINE" and c["activeChatCount"] == 1,
            RECONNECT_TIMEOUT,
        )
        # (Events of changes made just before subscribing can still arrive first: all QUEUED.)
        resent = await kims_updates.wait_for(field_is("requestUpdated", status="ASSIGNED"), RECONNECT_TIMEOUT)
        assert resent["requestUpdated"] == {
            "id": kims["id"],
            "status": "ASSIGNED",
            "counsellor": {"id": anna.id},
        }
        assert {r["requestUpdated"]["status"] for r in kims_updates.skipped} <= {"QUEUED"}, (
            kims_updates.skipped
        )
        await _wait_ready(live, 200)

        # ... and then every later change, through Redis again.
        await set_online(live, admin, "AWAY", anna.id)
        away = await _counsellor_until(counsellors, anna.id, lambda c: c["onlineStatus"] == "AWAY", 10)
        assert away["activeChatCount"] == 1
        closed = (await live.call(admin, CLOSE, id=kims["id"]))["closeRequest"]
        assert closed["status"] == "CLOSED"
        await kims_updates.wait_for(field_is("requestUpdated", id=kims["id"], status="CLOSED"))
        freed = await _counsellor_until(counsellors, anna.id, lambda c: c["activeChatCount"] == 0, 10)
        assert freed["onlineStatus"] == "AWAY"


async def test_a_quick_redis_restart_still_resends_the_state(
    redis_app: LiveServer, redis_server: RedisServer
) -> None:
    """Redis back within a fraction of a second: a change made in the gap still reaches subscribers."""
    live = redis_app
    admin = await live.admin_token()
    anna = await create_counsellor(live, admin, "Anna", login_now=False)

    async with (
        live.ws(admin) as admin_ws,
        subscription(live, admin_ws, COUNSELLORS, listening=False) as counsellors,
    ):
        for _ in range(2):
            await counsellors.next()
        redis_server.kill()
        await set_online(live, admin, "AWAY", anna.id)  # its event cannot be published
        redis_server.start()
        await _counsellor_until(
            counsellors, anna.id, lambda c: c["onlineStatus"] == "AWAY", RECONNECT_TIMEOUT
        )
        # Later changes flow again.
        await set_online(live, admin, "OFFLINE", anna.id)
        await _counsellor_until(counsellors, anna.id, lambda c: c["onlineStatus"] == "OFFLINE", 10)


FRESH_BUSES = 60


async def test_every_freshly_connected_bus_hears_what_is_published(redis_server: RedisServer) -> None:
    """Once `connect()` returned, a process's bus is subscribed on Redis and hears what is published.

    Two start-up races break that: `connect()` returning before the subscription is in place
    (events published meanwhile are lost), and the subscription landing on a connection the
    bus never reads from (the process looks healthy but its subscribers get nothing, from any
    process, until Redis restarts). Each hits a few starts in a hundred: start many buses.
    """
    not_ready = deaf = 0
    for _ in range(FRESH_BUSES):
        bus = EventBus(redis_server.url)
        await bus.connect()
        try:
            not_ready += not bus.healthy
            async with bus.subscribe() as events:
                await bus.publish(StateMayBeStale())
                try:
                    await asyncio.wait_for(anext(events), 0.5)
                except TimeoutError:
                    deaf += 1
        finally:
            await bus.disconnect()
    assert (not_ready, deaf) == (0, 0), (
        f"of {FRESH_BUSES} buses, {not_ready} returned from connect() before subscribing on Redis "
        f"and {deaf} never got the event published right after"
    )


# EventQueue -------------------------------------------------------------------------------------

_T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _counsellor(counsellor_id: int, status: OnlineStatus, active_chats: int = 0) -> DomainCounsellor:
    return DomainCounsellor(
        id=counsellor_id,
        email=f"c{counsellor_id}@faults.test",
        display_name=f"C{counsellor_id}",
        role=StaffRole.COUNSELLOR,
        created_at=_T0,
        online_status=status,
        chat_capacity=10,
        active_chat_count=active_chats,
    )


def _request_changed(request_id: int) -> RequestChanged:
    return RequestChanged(
        DomainRequest(
            id=request_id,
            client_id=1,
            channel=Channel.CHAT,
            status=RequestStatus.QUEUED,
            message=None,
            created_at=_T0,
        )
    )


async def _take_all(queue: EventQueue) -> list[Event]:
    """Everything the queue holds now, in the order a subscriber gets it."""
    taken: list[Event] = []
    while True:
        try:
            taken.append(await asyncio.wait_for(queue.get(), 0.05))
        except TimeoutError:
            return taken


async def test_event_queue_is_bounded_and_says_what_it_dropped() -> None:
    limit = 8
    queue = EventQueue(limit)
    pushed = [_request_changed(n) for n in range(1, limit + 6)]
    for event in pushed:
        queue.put(event)

    taken = await _take_all(queue)

    assert isinstance(taken[0], StateMayBeStale)  # first: re-read the state, events were dropped
    assert taken[1:] == pushed[-limit:]  # then the newest `limit`, oldest first
    assert not any(isinstance(e, StateMayBeStale) for e in taken[1:])


async def test_event_queue_below_its_limit_drops_nothing() -> None:
    queue = EventQueue(8)
    pushed = [_request_changed(n) for n in range(1, 9)]
    for event in pushed:
        queue.put(event)
    assert await _take_all(queue) == pushed


async def test_event_queue_coalesces_one_counsellors_changes_into_the_latest() -> None:
    queue = EventQueue(4)
    states = [_counsellor(7, OnlineStatus.ONLINE, active_chats=n) for n in range(10)]
    for state in states:
        queue.put(CounsellorStateChanged(state))

    taken = await _take_all(queue)

    assert taken == [CounsellorStateChanged(states[-1])]  # one event, the latest; no overflow


async def test_event_queue_keeps_the_latest_state_of_each_counsellor() -> None:
    queue = EventQueue(4)
    queue.put(CounsellorStateChanged(_counsellor(1, OnlineStatus.ONLINE)))
    queue.put(CounsellorStateChanged(_counsellor(2, OnlineStatus.ONLINE)))
    queue.put(_request_changed(5))
    queue.put(CounsellorStateChanged(_counsellor(1, OnlineStatus.AWAY)))

    taken = await _take_all(queue)

    latest = {
        e.counsellor.id: e.counsellor.online_status for e in taken if isinstance(e, CounsellorStateChanged)
    }
    assert latest == {1: OnlineStatus.AWAY, 2: OnlineStatus.ONLINE}
    assert _request_changed(5) in taken
    assert len(taken) == 3


async def test_event_queue_wakes_a_waiting_consumer() -> None:
    queue = EventQueue(4)
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)  # one step: the consumer is now waiting in get()
    assert not waiting.done()
    queue.put(_request_changed(1))
    assert await asyncio.wait_for(waiting, 1) == _request_changed(1)


# What the bus carries ---------------------------------------------------------------------------


def test_a_routed_request_event_can_travel_on_the_bus() -> None:
    """A request with its routing trace is encoded for the bus (else its event is silently lost)."""
    routing_step = getattr(model, "RoutingStep", None)
    if routing_step is None or "trace" not in {f.name for f in fields(DomainRequest)}:
        pytest.skip("requests carry no routing trace")
    routed = replace(
        _request_changed(3).request,
        status=RequestStatus.ASSIGNED,
        counsellor_id=7,
        assigned_at=_T0,
        trace=(routing_step(_T0, "CANDIDATE_CHOSEN", 7, "fewest chats"),),
    )

    decoded = event_codec.decode(event_codec.encode(RequestChanged(routed, assigned=True)))

    assert isinstance(decoded, RequestChanged)
    assert decoded.assigned
    assert (decoded.request.id, decoded.request.status, decoded.request.counsellor_id) == (
        3,
        RequestStatus.ASSIGNED,
        7,
    )

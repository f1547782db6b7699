"""Catch-up after lost events, over the in-memory fakes: who is sent what since when, and what a
subscription sends only once (domain/use_cases/catch_up.py); and how the bus says when a gap began."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import BadUserInput, Forbidden
from domain.events import (
    CounsellorStateChanged,
    Event,
    PrimaryCounsellorChanged,
    RequestChanged,
    StateMayBeStale,
)
from domain.model import AssignmentSource, Channel, PrimaryCounsellorChange, Request, RequestStatus
from domain.use_cases import Deps, catch_up
from domain.use_cases.catch_up import CATCH_UP_LIMIT, Delivered
from domain.use_cases.clients import change_primary_counsellor
from domain.use_cases.requests import assign_request, close_request
from persistence import event_codec
from persistence.event_bus import EventQueue
from persistence.redis_backend import RECONNECTED, gap_began, reconnected_message
from tests.fakes import START, FakeUnitOfWorkFactory, FixedClock
from tests.unit.test_use_cases import ADMIN, as_client, as_staff, online, submit


async def test_requests_are_stamped_by_every_transition(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    anna = online(factory)
    kim = factory.seed_client()
    submitted = await submit(deps, kim)
    assert submitted.updated_at == START  # routed to Anna when submitted
    closed_at = clock.advance(60)
    await close_request(deps, as_staff(anna), submitted.id)
    assert factory.request(submitted.id).updated_at == closed_at

    queued = await submit(deps, factory.seed_client())  # Anna's one slot is free again: assigned
    later = clock.advance(30)
    bob = online(factory, chat_capacity=5)
    await assign_request(deps, ADMIN, queued.id, bob.id)
    assert factory.request(queued.id).updated_at == later


async def test_a_counsellor_is_sent_their_assignments_since_then_oldest_first(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    anna = online(factory, chat_capacity=10)
    bob = online(factory, chat_capacity=10)
    before = await submit(deps, factory.seed_client())  # Anna (fewest, created first)
    since = clock.advance(10)
    first = await submit(deps, factory.seed_client())  # Bob: Anna holds one
    clock.advance(10)
    second = await submit(deps, factory.seed_client())  # Anna
    clock.advance(10)
    third = await submit(deps, factory.seed_client())  # Bob
    assert [r.counsellor_id for r in (before, first, second, third)] == [anna.id, bob.id, anna.id, bob.id]
    clock.advance(10)
    await close_request(deps, as_staff(bob), third.id)  # closed meanwhile: still sent, as it is now

    found = await catch_up.assignments_since(deps, as_staff(bob), since, Delivered())

    assert [(r.id, r.status) for r in found] == [
        (first.id, RequestStatus.ASSIGNED),
        (third.id, RequestStatus.CLOSED),
    ]
    assert found[0].message == "Hallo"  # with its texts


async def test_assignments_catch_up_only_for_staff(deps: Deps, factory: FakeUnitOfWorkFactory) -> None:
    kim = factory.seed_client()
    with pytest.raises(Forbidden):
        await catch_up.assignments_since(deps, as_client(kim), START, Delivered())


async def test_a_request_handed_on_is_not_sent_as_the_first_holders_assignment(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    anna = online(factory, chat_capacity=5)
    bob = online(factory, chat_capacity=5)
    request = await submit(deps, factory.seed_client())
    clock.advance(5)
    await assign_request(deps, ADMIN, request.id, bob.id)

    assert await catch_up.assignments_since(deps, as_staff(anna), START, Delivered()) == []
    assert [r.id for r in await catch_up.assignments_since(deps, as_staff(bob), START, Delivered())] == [
        request.id
    ]


async def test_request_changes_follow_the_visibility_rules(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    anna = online(factory, chat_capacity=5)
    bob = factory.seed_counsellor()
    kim, lea = factory.seed_client(), factory.seed_client()
    kims = await submit(deps, kim)  # Anna becomes Kim's primary
    clock.advance(5)
    leas = await submit(deps, lea)
    since = START + timedelta(seconds=1)

    def ids(found: list[Request]) -> list[int]:
        return [r.id for r in found]

    assert ids(await catch_up.request_changes_since(deps, as_client(kim), START, Delivered())) == [kims.id]
    assert ids(await catch_up.request_changes_since(deps, as_staff(anna), START, Delivered())) == [
        kims.id,
        leas.id,
    ]
    assert ids(await catch_up.request_changes_since(deps, as_staff(anna), since, Delivered())) == [leas.id]
    assert await catch_up.request_changes_since(deps, as_staff(bob), START, Delivered()) == []
    assert ids(await catch_up.request_changes_since(deps, ADMIN, START, Delivered(), kims.id)) == [kims.id]
    # A request the viewer may not see is not sent, even when named.
    assert await catch_up.request_changes_since(deps, as_client(lea), START, Delivered(), kims.id) == []


async def test_primary_changes_go_to_those_named_and_those_who_see_the_client_now(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    anna, bob, carla = factory.seed_counsellor(), factory.seed_counsellor(), factory.seed_counsellor()
    kim = factory.seed_client(primary_counsellor_id=anna.id)
    clock.advance(5)
    await change_primary_counsellor(deps, ADMIN, kim.id, bob.id, "Urlaub")
    [change] = factory.store.history

    for seen_by in (ADMIN, as_staff(anna), as_staff(bob)):
        found = await catch_up.primary_changes_since(deps, seen_by, START, Delivered())
        assert [c.id for c in found] == [change.id]
    assert await catch_up.primary_changes_since(deps, as_staff(carla), START, Delivered()) == []
    assert await catch_up.primary_changes_since(deps, ADMIN, clock.advance(1), Delivered()) == []
    assert await catch_up.primary_changes_since(deps, ADMIN, START, Delivered(), client_id=kim.id + 1) == []
    with pytest.raises(Forbidden):
        await catch_up.primary_changes_since(deps, as_client(kim), START, Delivered())


async def test_a_catch_up_is_capped(deps: Deps, factory: FakeUnitOfWorkFactory) -> None:
    anna = factory.seed_counsellor()
    kim = factory.seed_client()
    factory.store.history = [
        PrimaryCounsellorChange(
            id=n,
            client_id=kim.id,
            previous_counsellor_id=None if n % 2 else anna.id,
            new_counsellor_id=anna.id if n % 2 else None,
            source=AssignmentSource.MANUAL,
            changed_at=START + timedelta(seconds=n),
        )
        for n in range(CATCH_UP_LIMIT + 3, 0, -1)
    ]

    found = await catch_up.primary_changes_since(deps, ADMIN, START, Delivered())

    assert [c.id for c in found] == list(range(1, CATCH_UP_LIMIT + 1))  # oldest first


async def test_what_was_sent_is_not_sent_again(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    anna = online(factory, chat_capacity=5)
    request = await submit(deps, factory.seed_client())
    delivered = Delivered()
    assert delivered.request(factory.request(request.id))  # sent live

    assert await catch_up.request_changes_since(deps, as_staff(anna), START, delivered) == []
    clock.advance(5)
    await close_request(deps, as_staff(anna), request.id)
    [closed] = await catch_up.request_changes_since(deps, as_staff(anna), START, delivered)
    assert closed.status is RequestStatus.CLOSED
    assert not delivered.request(request)  # the live event of the older state, late: not sent


def test_delivered_tells_states_apart_by_time_and_version() -> None:
    delivered = Delivered(memory=2)
    assert delivered.fresh("a", START, "queued")
    assert not delivered.fresh("a", START, "queued")
    assert delivered.fresh("a", START, "assigned")  # same instant (a fixed clock), another state
    assert not delivered.fresh("a", START - timedelta(seconds=1), "other")  # older
    assert delivered.fresh("b", START)
    assert delivered.fresh("c", START)  # "a" is forgotten now
    assert delivered.fresh("a", START, "assigned")
    assert delivered.fresh("d", None) and delivered.fresh("d", None)  # unstamped: always sent


def test_since_needs_an_offset_and_never_reaches_before_the_subscription() -> None:
    with pytest.raises(BadUserInput) as raised:
        catch_up.requested_since(datetime(2026, 12, 1, 10, 0))
    assert raised.value.field == "since"
    assert catch_up.requested_since(START) == START

    floor = catch_up.floor(None, START)
    assert floor == START - catch_up.SUBSCRIBE_SLACK
    assert catch_up.floor(START - timedelta(days=1), START) == START - timedelta(days=1)
    assert catch_up.gap_start(START - timedelta(hours=1), floor) == floor
    assert catch_up.gap_start(START + timedelta(minutes=1), floor) == START + timedelta(minutes=1)
    assert catch_up.gap_start(None, floor) == floor


# How the bus says when a gap began -------------------------------------------------------------


def _changed(request_id: int, at: datetime) -> RequestChanged:
    request = Request(
        id=request_id,
        client_id=1,
        channel=Channel.CHAT,
        status=RequestStatus.QUEUED,
        message=None,
        created_at=at,
    )
    request.updated_at = at
    return RequestChanged(request)


async def _take_all(queue: EventQueue) -> list[Event]:
    taken: list[Event] = []
    while True:
        try:
            taken.append(await asyncio.wait_for(queue.get(), 0.05))
        except TimeoutError:
            return taken


async def test_an_overflowing_queue_says_when_the_oldest_dropped_change_was_made() -> None:
    queue = EventQueue(2)
    times = [START + timedelta(seconds=n) for n in range(5)]
    for n, at in enumerate(times):
        queue.put(_changed(n, at))

    taken = await _take_all(queue)

    assert taken[0] == StateMayBeStale(times[0])  # 0, 1 and 2 were dropped
    assert taken[1:] == [_changed(3, times[3]), _changed(4, times[4])]
    queue.put(_changed(5, times[4]))
    assert await _take_all(queue) == [_changed(5, times[4])]  # the gap was told once


async def test_a_dropped_event_without_a_time_counts_from_when_it_was_dropped() -> None:
    queue = EventQueue(1)
    counsellor_event = CounsellorStateChanged(online(FakeUnitOfWorkFactory()))
    queue.put(counsellor_event)
    before = datetime.now(UTC)
    queue.put(_changed(1, START))

    gap = (await _take_all(queue))[0]

    assert isinstance(gap, StateMayBeStale) and gap.since is not None and gap.since >= before


def test_the_gap_travels_on_the_bus() -> None:
    for event in (StateMayBeStale(START), StateMayBeStale()):
        assert event_codec.decode(event_codec.encode(event)) == event
    change = PrimaryCounsellorChanged(
        PrimaryCounsellorChange(
            id=1,
            client_id=2,
            previous_counsellor_id=None,
            new_counsellor_id=3,
            source=AssignmentSource.AUTOMATIC,
            changed_at=START,
        ),
        frozenset({3}),
    )
    assert event_codec.decode(event_codec.encode(change)) == change
    stamped = _changed(4, START)
    decoded = event_codec.decode(event_codec.encode(stamped))
    assert isinstance(decoded, RequestChanged) and decoded.request.updated_at == START


def test_a_reconnect_names_when_the_gap_began() -> None:
    assert gap_began(reconnected_message(START)) == START
    assert gap_began('{"kind":"stale"}') is None
    unnamed = gap_began(RECONNECTED)  # from a process that does not say: a margin before now
    assert unnamed is not None and unnamed < datetime.now(UTC)

"""Datetimes come back from SQLite and PostgreSQL timezone-aware, in UTC, and are stored as instants."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from domain.model import Channel, Counsellor, MailAvailability, Request, RoutingReason
from domain.use_cases import Deps
from domain.use_cases.routing import Dispatcher
from persistence.database import Engines
from tests.fakes import FixedClock, settling
from tests.integration.conftest import World

BERLIN_SUMMER = timezone(timedelta(hours=2))


def move_to(clock: FixedClock, when: datetime) -> None:
    clock.advance((when - clock.now()).total_seconds())


def utc_aware(value: datetime | None) -> bool:
    return value is not None and value.tzinfo is not None and value.utcoffset() == timedelta(0)


async def _assigned_chat(world: World) -> tuple[Counsellor, Request]:
    anna = await world.counsellor("Anna", chat=2)
    kim = await world.client()
    request = await world.submit(kim, Channel.CHAT)
    assert request.routing_reason is RoutingReason.FIRST_REQUEST
    return anna, request


async def test_datetimes_read_back_are_utc_aware(world: World) -> None:
    anna, submitted = await _assigned_chat(world)

    request = await world.request(submitted.id)
    counsellor = await world.state(anna.id)
    client = await world.stored_client(request.client_id)
    [entry] = await world.history(request.client_id)

    for name, value in {
        "request.created_at": request.created_at,
        "request.assigned_at": request.assigned_at,
        "counsellor.created_at": counsellor.created_at,
        "counsellor.last_chat_assigned_at": counsellor.last_chat_assigned_at,
        "client.created_at": client.created_at,
        "client.last_login_at": client.last_login_at,
        "history.changed_at": entry.changed_at,
    }.items():
        assert utc_aware(value), f"{name} = {value!r}"
    assert request.created_at == submitted.created_at == world.clock.now()
    # The printed form carries the offset (the API prints isoformat).
    assert request.created_at.isoformat().endswith("+00:00")


async def test_lists_and_the_queue_return_utc_aware_datetimes(world: World) -> None:
    await world.counsellor("Anna")
    assigned = await world.submit(await world.client("Kim"), Channel.CHAT)
    queued = await world.submit(await world.client("Lou"), Channel.CHAT)  # Anna's only slot is taken
    async with world.deps.uow(write=False) as uow:
        listed = [found for i in (assigned.id, queued.id) if (found := await uow.requests.get(i))]
        waiting = await uow.requests.queued(10)
    assert [r.id for r in waiting] == [queued.id]
    for request in [*listed, *waiting]:
        assert utc_aware(request.created_at), request
    assert utc_aware(next(r for r in listed if r.id == assigned.id).assigned_at)


async def test_the_end_of_a_wait_read_back_is_utc_aware(world: World) -> None:
    anna = await world.counsellor("Anna")
    kim = await world.client()
    await world.submit(kim, Channel.CHAT)
    await world.set_wait(30)
    waiting = await world.submit(kim, Channel.CHAT)
    stored = await world.request(waiting.id)
    assert stored.waiting_for_id == anna.id and utc_aware(stored.wait_until)
    async with world.deps.uow(write=False) as uow:
        wait_end = await uow.requests.next_wait_end(world.clock.now())
    assert utc_aware(wait_end)
    assert wait_end == stored.wait_until == waiting.created_at + timedelta(seconds=30)


async def test_a_time_given_in_another_zone_is_stored_as_the_same_instant(
    deps: Deps, engines: Engines
) -> None:
    berlin = FixedClock(datetime(2025, 7, 1, 12, 0, tzinfo=BERLIN_SUMMER))
    local = dataclasses.replace(deps, clock=berlin)
    local.dispatch = settling(Dispatcher(local))
    world = World(local, berlin, engines)
    await world.setup_admin()
    _, submitted = await _assigned_chat(world)

    stored = await world.request(submitted.id)

    assert stored.created_at == berlin.now()  # the same instant ...
    assert utc_aware(stored.created_at)  # ... written in UTC
    assert (stored.created_at.hour, stored.created_at.tzinfo) == ((berlin.now().hour - 2) % 24, UTC)


async def test_instants_order_correctly_whatever_zone_they_were_given_in(
    deps: Deps, engines: Engines
) -> None:
    """Created at 10:00+02:00 (08:00 UTC) is earlier than 09:00 UTC: on a tie, that counsellor is chosen."""
    clock = FixedClock(datetime(2025, 7, 1, 10, 0, tzinfo=BERLIN_SUMMER))
    local = dataclasses.replace(deps, clock=clock)
    local.dispatch = settling(Dispatcher(local))
    world = World(local, clock, engines)
    await world.setup_admin()
    later = await world.counsellor("Later in UTC", online=False, mail=MailAvailability.UNLIMITED)
    # World.counsellor ticks one second first: set the clock for the next one before it does.
    move_to(clock, datetime(2025, 7, 1, 9, 0, tzinfo=UTC) - timedelta(seconds=1))
    earlier_wall_clock = await world.counsellor(
        "Earlier on the wall", online=False, mail=MailAvailability.UNLIMITED
    )
    assert earlier_wall_clock.created_at > later.created_at  # 09:00Z is after 08:00Z
    move_to(clock, datetime(2025, 7, 1, 12, 0, tzinfo=UTC))

    request = await world.submit(await world.client(), Channel.MAIL)

    assert request.counsellor_id == later.id


async def test_a_naive_datetime_is_refused_by_the_database_layer(world: World) -> None:
    anna = await world.counsellor("Anna")
    async with world.deps.uow() as uow:
        with pytest.raises(StatementError):
            await uow.counsellors.claim(anna.id, Channel.CHAT, datetime(2025, 1, 1, 12, 0), checked=False)

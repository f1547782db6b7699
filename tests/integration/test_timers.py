"""The timers on the real database of each backend, with the controllable clock: wait expiries,
presence lapses and accept timeouts take effect exactly once, also when run concurrently by several
"processes", and survive a restart (they live in the database, not in a process).
Also the clients of inactive primaries, and the routing trace as stored.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from domain.events import CounsellorStateChanged, Event
from domain.model import (
    AssignmentSource,
    Counsellor,
    OnlineStatus,
    Request,
    RoutingReason,
    RoutingStep,
    Settings,
    Viewer,
)
from domain.ports import ClientQuery
from domain.use_cases import Deps
from domain.use_cases.acceptance import accept_request, take_back_unaccepted
from domain.use_cases.clients import (
    ClientProfile,
    change_primary_counsellor,
    create_client,
    reassign_clients,
)
from domain.use_cases.counsellors import CounsellorUpdate, update_counsellor
from domain.use_cases.presence import heartbeat, lapse_silent_counsellors
from domain.use_cases.reads import client_page_unchecked
from domain.use_cases.routing import Dispatcher
from persistence.crypto import TextCipher
from persistence.database import Engines, create_engines
from persistence.event_bus import EventBus
from persistence.sweeper import QueueSweeper
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.fakes import FixedClock, PlainHasher, settling
from tests.integration.conftest import World, client_id, handler_counts, load_check, staff

# One key for every "process" on a database, as in a deployment (request texts are encrypted).
CIPHER = TextCipher(secrets.token_bytes(32))
PRESENCE = 60
ACCEPT = 30
WAIT = 30


@dataclass
class Recorder:
    """Every event any process published, in order."""

    events: list[Event]

    def offline_ids(self) -> list[int]:
        return [
            e.counsellor.id
            for e in self.events
            if isinstance(e, CounsellorStateChanged) and e.counsellor.online_status is OnlineStatus.OFFLINE
        ]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder([])


def make_deps(engines: Engines, bus: EventBus, clock: FixedClock, recorder: Recorder) -> Deps:
    async def publish(event: Event) -> None:
        recorder.events.append(event)
        await bus.publish(event)

    found = Deps(uow=SqlUnitOfWorkFactory(engines, publish, CIPHER), clock=clock, hasher=PlainHasher())
    found.dispatch = settling(Dispatcher(found))
    return found


@pytest.fixture
def deps(engines: Engines, bus: EventBus, clock: FixedClock, recorder: Recorder) -> Deps:
    """The shared `deps`, with the events it publishes recorded (overrides tests/conftest.py's)."""
    return make_deps(engines, bus, clock, recorder)


@pytest.fixture
async def others(
    database_url: str, engines: Engines, bus: EventBus, clock: FixedClock, recorder: Recorder
) -> AsyncIterator[list[Deps]]:
    """Two more processes on the same (migrated) database, each with its own connection pools."""
    pools = [create_engines(database_url) for _ in range(2)]
    try:
        yield [make_deps(pool, bus, clock, recorder) for pool in pools]
    finally:
        for pool in pools:
            await pool.dispose()


async def set_settings(world: World, **values: Any) -> None:
    """Write settings directly (a scenario set-up; the use case's own rules are tested elsewhere)."""
    async with world.deps.uow() as uow:
        settings: Settings = await uow.settings.lock()
        for name, value in values.items():
            setattr(settings, name, value)
        await uow.settings.save(settings)
        await uow.commit()


async def together(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*(call() for call in calls)))


def outcomes(request: Request) -> list[tuple[str, int | None, str | None]]:
    return [(s.outcome, s.counsellor_id, s.detail) for s in request.trace]


async def assert_loads_agree(world: World) -> None:
    for counsellor_id, (chat, chats, _, mail, mails, _) in (await load_check(world.engines)).items():
        assert (chat, mail) == (chats, mails), f"counsellor {counsellor_id}"


async def primary_client(world: World, counsellor: Counsellor, name: str = "Kim") -> Viewer:
    """A self-registered client whose primary is `counsellor` (set by an admin)."""
    viewer = await world.client(name)
    await change_primary_counsellor(world.deps, world.admin, client_id(viewer), counsellor.id, None)
    return viewer


# --- the wait for a primary ---------------------------------------------------------------------


async def _waiting(
    world: World, *, colleague_online: bool = True
) -> tuple[Counsellor, Counsellor, Viewer, Request]:
    anna = await world.counsellor("Anna")
    kim = await primary_client(world, anna)
    held = await world.submit(kim)
    assert held.counsellor_id == anna.id
    bert = await world.counsellor("Bert", online=colleague_online)
    await set_settings(world, primary_chat_wait_seconds=WAIT)
    waiting = await world.submit(kim)
    assert (waiting.status.value, waiting.waiting_for_id) == ("QUEUED", anna.id)
    return anna, bert, kim, waiting


async def test_wait_expires_on_dispatch_after_the_clock_passes_it(world: World) -> None:
    anna, bert, kim, waiting = await _waiting(world)
    world.clock.advance(WAIT - 1)
    await world.deps.dispatch()
    assert (await world.request(waiting.id)).status.value == "QUEUED"

    world.clock.advance(2)
    await world.deps.dispatch()
    done = await world.request(waiting.id)
    assert (done.status.value, done.counsellor_id, done.routing_reason) == (
        "ASSIGNED",
        bert.id,
        RoutingReason.PRIMARY_UNAVAILABLE,
    )
    assert (done.waiting_for_id, done.wait_until) == (None, None)
    assert outcomes(done)[-2:] == [
        ("WAIT_ENDED", anna.id, f"waited {WAIT} s"),
        ("CANDIDATE_CHOSEN", bert.id, "holds 0 chat requests, never assigned; 1 free"),
    ]
    assert await world.primary_of(kim) == anna.id


async def test_expired_wait_is_dispatched_once_by_concurrent_processes(
    world: World, others: list[Deps]
) -> None:
    _, bert, _, waiting = await _waiting(world)
    world.clock.advance(WAIT + 1)
    await together(*(d.dispatch for d in [world.deps, *others, world.deps, *others]))
    done = await world.request(waiting.id)
    assert (done.status.value, done.counsellor_id) == ("ASSIGNED", bert.id)
    assert (await handler_counts(world.engines))[waiting.id] == 1
    assert [o for o, _, _ in outcomes(done)].count("CANDIDATE_CHOSEN") == 1
    await assert_loads_agree(world)


# --- presence lapses --------------------------------------------------------------------------


async def test_silent_counsellors_lapse_once_and_heartbeats_keep_others_online(
    world: World, recorder: Recorder
) -> None:
    await set_settings(world, presence_timeout_seconds=PRESENCE)
    anna = await world.counsellor("Anna")
    bert = await world.counsellor("Bert")
    kim = await world.client()
    held = await world.submit(kim)
    assert held.counsellor_id == anna.id

    world.clock.advance(PRESENCE - 5)
    await heartbeat(world.deps, staff(bert))
    world.clock.advance(10)  # Anna silent for PRESENCE + some; Bert seen 10 s ago
    recorder.events.clear()
    lapsed = await lapse_silent_counsellors(world.deps)
    assert [c.id for c in lapsed] == [anna.id]
    assert (await world.state(anna.id)).online_status is OnlineStatus.OFFLINE
    assert (await world.state(bert.id)).online_status is OnlineStatus.ONLINE
    assert recorder.offline_ids() == [anna.id]
    # Her chat stays with her; she is offered nothing new.
    assert (await world.request(held.id)).counsellor_id == anna.id
    assert (await world.state(anna.id)).active_chat_count == 1
    second = await world.submit(kim)
    assert (second.counsellor_id, second.routing_reason) == (bert.id, RoutingReason.PRIMARY_UNAVAILABLE)
    assert outcomes(second)[0] == ("PRIMARY_SKIPPED", anna.id, "offline")

    assert await lapse_silent_counsellors(world.deps) == []
    assert recorder.offline_ids() == [anna.id]


async def test_concurrent_lapse_runs_lapse_each_counsellor_exactly_once(
    world: World, others: list[Deps], recorder: Recorder
) -> None:
    await set_settings(world, presence_timeout_seconds=PRESENCE)
    team = [await world.counsellor(f"C{i}") for i in range(5)]
    world.clock.advance(PRESENCE + 10)
    recorder.events.clear()
    runs = [world.deps, *others] * 2
    results = await together(*(lambda d=d: lapse_silent_counsellors(d) for d in runs))
    lapsed = [c.id for found in results for c in found]
    assert sorted(lapsed) == sorted(c.id for c in team)  # each once, across all runs
    assert sorted(recorder.offline_ids()) == sorted(c.id for c in team)
    for counsellor in team:
        assert (await world.state(counsellor.id)).online_status is OnlineStatus.OFFLINE


async def test_sweeper_round_runs_the_presence_and_accept_timers(
    world: World, bus: EventBus, recorder: Recorder
) -> None:
    await set_settings(world, presence_timeout_seconds=PRESENCE, accept_timeout_seconds=ACCEPT)
    anna = await world.counsellor("Anna")
    chat = await world.submit(await world.client())
    bert = await world.counsellor("Bert")
    world.clock.advance(ACCEPT + 1)
    await heartbeat(world.deps, staff(bert))
    sweeper = QueueSweeper(world.deps, Dispatcher(world.deps), bus, period=3600)
    await sweeper.run_timers()
    taken = await world.request(chat.id)
    assert (taken.counsellor_id, taken.excluded_ids) == (bert.id, (anna.id,))

    world.clock.advance(PRESENCE - 1)
    recorder.events.clear()
    await sweeper.run_timers()
    assert (await world.state(anna.id)).online_status is OnlineStatus.OFFLINE
    assert (await world.state(bert.id)).online_status is OnlineStatus.ONLINE  # seen PRESENCE - 1 s ago
    assert recorder.offline_ids() == [anna.id]


# --- accept timeouts ---------------------------------------------------------------------------


async def test_concurrent_take_backs_reroute_each_overdue_chat_once(world: World, others: list[Deps]) -> None:
    await set_settings(world, accept_timeout_seconds=ACCEPT)
    first = [await world.counsellor(f"A{i}", chat=2) for i in range(2)]
    chats = [await world.submit(await world.client(f"K{i}")) for i in range(4)]
    assert {c.counsellor_id for c in chats} == {c.id for c in first}
    second = [await world.counsellor(f"B{i}", chat=2) for i in range(2)]
    accepted = await world.submit(await world.client("Acc"))
    assert accepted.counsellor_id in {c.id for c in second}
    holder = next(c for c in second if c.id == accepted.counsellor_id)
    await accept_request(world.deps, staff(holder), accepted.id)

    world.clock.advance(ACCEPT + 30)  # every chat overdue except the accepted one (and it was accepted)
    runs = [world.deps, *others] * 2
    taken = await together(*(lambda d=d: take_back_unaccepted(d) for d in runs))
    assert sum(taken) == len(chats)

    handled = await handler_counts(world.engines)
    for chat in chats:
        stored = await world.request(chat.id)
        assert [o for o, _, _ in outcomes(stored)].count("ACCEPT_TIMEOUT") == 1, outcomes(stored)
        assert stored.excluded_ids == (chat.counsellor_id,)
        assert stored.status.value == "ASSIGNED"
        assert stored.counsellor_id not in (None, chat.counsellor_id)
        # The primary was set by this very request: it moves to the new holder.
        assert stored.routing_reason is RoutingReason.FIRST_REQUEST
        assert await world.primary_of(stored.client_id) == stored.counsellor_id
        assert len(await world.automatic_entries(stored.client_id)) == 2
        assert handled[chat.id] == 2
    assert (await world.request(accepted.id)).counsellor_id == holder.id
    await assert_loads_agree(world)


# --- a restart: new engines and processes continue where the database says ----------------------


async def test_timers_survive_a_restart(
    world: World, database_url: str, bus: EventBus, clock: FixedClock, recorder: Recorder
) -> None:
    """State before the 'crash': a chat waiting for Anna, an unaccepted chat with Bert, both
    counsellors ONLINE. A new process with new engines finds every deadline in the database."""
    await set_settings(world, presence_timeout_seconds=PRESENCE, accept_timeout_seconds=ACCEPT)
    anna, bert, _, waiting = await _waiting(world)
    async with world.deps.uow(write=False) as uow:
        held = [r for r in await uow.requests.of_client(waiting.client_id) if r.id != waiting.id]
    await accept_request(world.deps, staff(anna), held[0].id)
    lou = await world.submit(await world.client("Lou"))
    assert (lou.counsellor_id, lou.routing_reason) == (bert.id, RoutingReason.FIRST_REQUEST)
    await world.engines.dispose()  # the first process is gone

    clock.advance(max(WAIT, ACCEPT) + 1)
    fresh = create_engines(database_url)
    try:
        restarted = make_deps(fresh, bus, clock, recorder)
        assert await take_back_unaccepted(restarted) == 1
        taken = await _request(restarted, lou.id)
        assert (taken.status.value, taken.excluded_ids) == ("QUEUED", (bert.id,))  # nobody else free
        assert [o for o, _, _ in outcomes(taken)].count("ACCEPT_TIMEOUT") == 1

        await restarted.dispatch()  # the wait for Anna ended while nobody ran: Bert (free again) takes it
        moved = await _request(restarted, waiting.id)
        assert (moved.status.value, moved.counsellor_id, moved.routing_reason) == (
            "ASSIGNED",
            bert.id,
            RoutingReason.PRIMARY_UNAVAILABLE,
        )
        assert "WAIT_ENDED" in [o for o, _, _ in outcomes(moved)]
        assert (await _request(restarted, lou.id)).status.value == "QUEUED"  # never back to Bert

        assert await lapse_silent_counsellors(restarted) == []  # both seen less than PRESENCE ago
        clock.advance(PRESENCE)
        recorder.events.clear()
        assert sorted(c.id for c in await lapse_silent_counsellors(restarted)) == sorted([anna.id, bert.id])
        assert await lapse_silent_counsellors(restarted) == []
        assert sorted(recorder.offline_ids()) == sorted([anna.id, bert.id])
    finally:
        await fresh.dispose()


async def _request(deps: Deps, request_id: int) -> Request:
    async with deps.uow(write=False) as uow:
        found = await uow.requests.get(request_id)
    assert found is not None
    return found


# --- clients whose primary is inactive ------------------------------------------------------------


async def test_client_filter_primary_inactive_and_reassignment(world: World) -> None:
    anna = await world.counsellor("Anna", online=False)
    bert = await world.counsellor("Bert", online=False)
    annas = [
        await create_client(world.deps, world.admin, ClientProfile(display_name=f"Anna's {i}"), anna.id)
        for i in range(3)
    ]
    berts = await create_client(world.deps, world.admin, ClientProfile(display_name="Bert's"), bert.id)
    nobodys = await create_client(world.deps, world.admin, ClientProfile(display_name="Nobody's"), None)

    async def listed(inactive: bool | None, viewer: Viewer | None = None) -> list[int]:
        page = await client_page_unchecked(
            world.deps, viewer or world.admin, ClientQuery(primary_inactive=inactive), 50, None
        )
        return sorted(c.id for _, c in page.items)

    assert await listed(True) == []
    await update_counsellor(world.deps, world.admin, CounsellorUpdate(anna.id, active=False))
    assert await listed(True) == sorted(c.id for c in annas)
    assert await listed(False) == sorted([berts.id, nobodys.id])
    assert await listed(True, staff(bert)) == []  # only clients the viewer may see
    assert await listed(None) == sorted([*(c.id for c in annas), berts.id, nobodys.id])

    assert await reassign_clients(world.deps, world.admin, anna.id, bert.id, "Ausgeschieden") == 3
    assert await listed(True) == []
    assert await listed(False, staff(bert)) == sorted([*(c.id for c in annas), berts.id])
    for client in annas:
        entries = await world.history(client.id)
        assert [
            (h.previous_counsellor_id, h.new_counsellor_id, h.source, h.reason) for h in entries[-1:]
        ] == [(anna.id, bert.id, AssignmentSource.MANUAL, "Ausgeschieden")]
        assert len(entries) == 2  # created with Anna, moved to Bert


# --- the routing trace as stored ---------------------------------------------------------------


async def test_routing_trace_is_stored_and_read_back_step_by_step(world: World) -> None:
    anna, bert, kim, waiting = await _waiting(world)
    stored = await world.request(waiting.id)
    created = stored.created_at
    assert stored.trace == (
        RoutingStep(created, "PRIMARY_SKIPPED", anna.id, "full (1/1 chats)"),
        RoutingStep(created, "WAITING_FOR_PRIMARY", anna.id, f"up to {WAIT} s"),
    )
    assert all(step.at.utcoffset() == timedelta(0) for step in stored.trace)

    world.clock.advance(WAIT + 1)
    await world.deps.dispatch()
    ended = world.clock.now()
    async with world.deps.uow(write=False) as uow:
        held = [r for r in await uow.requests.of_client(client_id(kim)) if r.id != waiting.id]
    await accept_request(world.deps, staff(anna), held[0].id)  # Anna stays busy with her first chat
    await set_settings(world, accept_timeout_seconds=ACCEPT, primary_chat_wait_seconds=0)
    cleo = await world.counsellor("Cleo")
    world.clock.advance(ACCEPT + 1)
    assert await take_back_unaccepted(world.deps) == 1
    back = world.clock.now()

    final = await world.request(waiting.id)
    assert final.trace[2:] == (
        RoutingStep(ended, "PRIMARY_SKIPPED", anna.id, "full (1/1 chats)"),
        RoutingStep(ended, "WAIT_ENDED", anna.id, f"waited {WAIT} s"),
        RoutingStep(ended, "CANDIDATE_CHOSEN", bert.id, "holds 0 chat requests, never assigned; 1 free"),
        RoutingStep(back, "ACCEPT_TIMEOUT", bert.id, f"not accepted within {ACCEPT} s"),
        RoutingStep(back, "PRIMARY_SKIPPED", anna.id, "full (1/1 chats)"),
        RoutingStep(back, "CANDIDATE_CHOSEN", cleo.id, "holds 0 chat requests, never assigned; 1 free"),
    )
    assert (final.counsellor_id, final.excluded_ids, final.set_primary) == (cleo.id, (bert.id,), False)
    assert await world.primary_of(kim) == anna.id

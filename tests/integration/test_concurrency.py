"""Routing under concurrency (routing.md rules 6 and 7): many use cases at once, over one or several 'processes'."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import pytest
from sqlalchemy import update

from domain.model import (
    AssignmentSource,
    Channel,
    Counsellor,
    MailAvailability,
    OnlineStatus,
    Request,
    RequestStatus,
    RoutingReason,
    Viewer,
)
from domain.policy import may_take
from domain.use_cases import Deps
from domain.use_cases.clients import change_primary_counsellor
from domain.use_cases.counsellors import (
    UNCHANGED,
    SettingsUpdate,
    set_absence,
    set_chat_capacity,
    set_fallback_counsellor,
    set_mail_availability,
    set_online_status,
    update_settings,
)
from domain.use_cases.requests import cancel_request, close_request, submit_request
from domain.use_cases.routing import dispatch_once
from persistence.tables import counsellors as counsellors_table
from tests.integration.conftest import (
    CHAT,
    MAIL,
    Process,
    World,
    client_id,
    handler_counts,
    load_check,
)
from tests.services import Backend

ASSIGNED, QUEUED = RequestStatus.ASSIGNED, RequestStatus.QUEUED
T = TypeVar("T")


def all_deps(world: World, processes: Sequence[Process]) -> list[Deps]:
    return [world.deps, *(p.deps for p in processes)]


# At most this many use cases in flight: no pool waits out its timeout, and a shared PostgreSQL keeps
# connections for others; still far more racers than there are slots.
IN_FLIGHT = 24


async def gather(calls: Sequence[Awaitable[T]]) -> list[T]:
    """Run all at once (up to IN_FLIGHT at a time); any exception fails the test (no silent losers)."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def run(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(run(c) for c in calls)))


async def assert_capacity_kept(world: World, channel: Channel, *, limits: bool = True) -> None:
    """Stored loads equal the ASSIGNED requests held, and (with `limits`) no one holds more than capacity."""
    for counsellor_id, (chat, chats, capacity, mail, mails, resources) in (
        await load_check(world.engines)
    ).items():
        assert (chat, mail) == (chats, mails), f"stored loads disagree with requests of {counsellor_id}"
        if not limits:
            continue
        if channel is CHAT:
            assert chats <= capacity, f"counsellor {counsellor_id} holds {chats} chats, capacity {capacity}"
        else:
            assert mails <= resources, (
                f"counsellor {counsellor_id} holds {mails} mails, resources {resources}"
            )


async def assert_nothing_left_deliverable(world: World, channel: Channel) -> None:
    """No queued first request while a counsellor may take it: nothing got stuck."""
    async with world.deps.uow(write=False) as uow:
        queued = [r for r in await uow.requests.queued(10_000) if r.channel is channel]
        clients = await uow.clients.get_many([r.client_id for r in queued])
        staff_ids = list((await load_check(world.engines)).keys())
        counsellors = (await uow.counsellors.get_many(staff_ids)).values()
    for request in queued:
        primary = clients[request.client_id].primary_counsellor_id
        free = [c.id for c in counsellors if may_take(c, channel, primary)]
        assert free == [], f"request {request.id} is queued while {free} may take it"


async def check_one_primary_per_client(world: World, requests: Sequence[Request]) -> None:
    """Each client: one AUTOMATIC entry iff one of its requests was ever assigned, to the FIRST_REQUEST holder."""
    by_client: dict[int, list[Request]] = {}
    for request in requests:
        by_client.setdefault(request.client_id, []).append(request)
    for cid, mine in by_client.items():
        automatic = await world.automatic_entries(cid)
        firsts = [r for r in mine if r.routing_reason is RoutingReason.FIRST_REQUEST]
        primary = await world.primary_of(cid)
        if any(r.assigned_at is not None for r in mine):
            assert len(automatic) == 1, f"client {cid}: {automatic}"
            assert len(firsts) == 1, f"client {cid}: {mine}"
            assert primary == firsts[0].counsellor_id == automatic[0].new_counsellor_id
            for other in mine:
                if other is firsts[0] or other.assigned_at is None:
                    continue
                expected = (
                    RoutingReason.PRIMARY_COUNSELLOR
                    if other.counsellor_id == primary
                    else RoutingReason.PRIMARY_UNAVAILABLE
                )
                assert other.routing_reason is expected, other
        else:
            assert automatic == [], f"client {cid}: {automatic}"
            assert primary is None


async def test_many_concurrent_first_requests_fill_every_chat_slot_once(
    world: World, processes: list[Process]
) -> None:
    counsellors = [await world.counsellor(name, chat=2) for name in ("Anna", "Bert", "Carla")]
    clients = [await world.client(f"Client {i:02}") for i in range(40)]
    everyone = all_deps(world, processes)
    calls = [
        submit_request(everyone[(i + n) % len(everyone)], client, CHAT, f"Hallo {n}", None, None)
        for i, client in enumerate(clients)
        for n in range(2)
    ]

    returned = await gather(calls)

    stored = await world.all_requests()
    assert len(stored) == len(returned) == 80
    assert {r.id for r in returned} == {r.id for r in stored}
    assert Counter(r.status for r in stored) == {ASSIGNED: 6, QUEUED: 74}
    for answer in returned:  # what each caller was told is what was stored
        match = next(r for r in stored if r.id == answer.id)
        assert (answer.status, answer.counsellor_id, answer.routing_reason) == (
            match.status,
            match.counsellor_id,
            match.routing_reason,
        )
    assert Counter(r.counsellor_id for r in stored if r.status is ASSIGNED) == {c.id: 2 for c in counsellors}
    await assert_capacity_kept(world, CHAT)
    await check_one_primary_per_client(world, stored)
    assert set((await handler_counts(world.engines)).values()) == {1}
    await assert_nothing_left_deliverable(world, CHAT)


async def test_many_concurrent_first_mails_never_exceed_free_resources(
    world: World, processes: list[Process]
) -> None:
    for name in ("Anna", "Bert", "Carla"):
        await world.counsellor(name, online=False, mail=MailAvailability.BY_FREE_RESOURCES, resources=2)
    clients = [await world.client(f"Client {i:02}") for i in range(30)]
    everyone = all_deps(world, processes)

    await gather(
        [
            submit_request(everyone[i % len(everyone)], c, MAIL, "Hallo", None, None)
            for i, c in enumerate(clients)
        ]
    )

    stored = await world.all_requests()
    assert Counter(r.status for r in stored) == {ASSIGNED: 6, QUEUED: 24}
    await assert_capacity_kept(world, MAIL)
    await check_one_primary_per_client(world, stored)
    await assert_nothing_left_deliverable(world, MAIL)


SCENARIOS = {
    # name: (channel, [(chat capacity, mail mode, resources)] per counsellor)
    "primary-free": (CHAT, [(50, MailAvailability.NONE, 0), (50, MailAvailability.NONE, 0)]),
    "primary-busy": (CHAT, [(1, MailAvailability.NONE, 0), (1, MailAvailability.NONE, 0)]),
    "nobody-else": (CHAT, [(1, MailAvailability.NONE, 0)]),
    "mail": (MAIL, [(1, MailAvailability.BY_FREE_RESOURCES, 1), (1, MailAvailability.BY_FREE_RESOURCES, 1)]),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_two_racing_first_requests_of_one_client_make_exactly_one_primary(
    world: World, processes: list[Process], scenario: str
) -> None:
    channel, setups = SCENARIOS[scenario]
    counsellors: list[Counsellor] = []
    for n, (chat, mode, resources) in enumerate(setups):
        counsellors.append(
            await world.counsellor(
                f"C{n}",
                chat=chat,
                mail=mode,
                resources=resources if mode is not MailAvailability.NONE else None,
            )
        )
    first_deps, second_deps = world.deps, processes[0].deps
    for round_ in range(12):
        client = await world.client(f"Client {round_}")
        pair = await gather(
            [
                submit_request(first_deps, client, channel, "eins", None, None),
                submit_request(second_deps, client, channel, "zwei", None, None),
            ]
        )
        pair = [await world.request(r.id) for r in pair]
        reasons = sorted(str(r.routing_reason) for r in pair)
        [first] = [r for r in pair if r.routing_reason is RoutingReason.FIRST_REQUEST]
        [second] = [r for r in pair if r is not first]
        primary = await world.primary_of(client)
        assert primary == first.counsellor_id, reasons
        automatic = await world.automatic_entries(client)
        assert [(h.previous_counsellor_id, h.new_counsellor_id) for h in automatic] == [(None, primary)]
        assert len(await world.history(client)) == 1
        if scenario in ("primary-free", "mail"):
            assert (second.status, second.counsellor_id, second.routing_reason) == (
                ASSIGNED,
                primary,
                RoutingReason.PRIMARY_COUNSELLOR,
            )
        elif scenario == "primary-busy":
            assert second.status is ASSIGNED and second.counsellor_id != primary
            assert second.routing_reason is RoutingReason.PRIMARY_UNAVAILABLE
        else:
            assert (second.status, second.counsellor_id) == (QUEUED, None)
        # Free everything for the next round (not needed when capacity is plenty).
        if scenario != "primary-free":
            # Cancel the queued one first, or closing would dispatch it.
            for request in sorted(pair, key=lambda r: r.status is ASSIGNED):
                if request.status is ASSIGNED:
                    await close_request(world.deps, world.admin, request.id)
                else:
                    await cancel_request(world.deps, client, request.id)
        # Mail to the primary beats capacity: only the loads must agree there.
        await assert_capacity_kept(world, channel, limits=scenario != "mail")
    stored = await world.all_requests()
    assert set((await handler_counts(world.engines)).values()) == {1}
    assert len(stored) == 24


async def _fill_and_queue(world: World, queued: int) -> tuple[list[Counsellor], list[Request], list[Request]]:
    """Three counsellors with 2 chat slots each, all taken, and `queued` first chats waiting."""
    counsellors = [await world.counsellor(name, chat=2) for name in ("Anna", "Bert", "Carla")]
    requests = [await world.submit(await world.client(f"Client {i:02}"), CHAT) for i in range(6 + queued)]
    assigned = [r for r in requests if r.status is ASSIGNED]
    waiting = [r for r in requests if r.status is QUEUED]
    assert (len(assigned), len(waiting)) == (6, queued)
    return counsellors, assigned, waiting


async def test_concurrent_closes_and_dispatch_runs_never_double_assign_a_queued_request(
    world: World, processes: list[Process]
) -> None:
    _, assigned, waiting = await _fill_and_queue(world, 20)
    everyone = all_deps(world, processes)
    closes = [close_request(everyone[i % 3], world.admin, r.id) for i, r in enumerate(assigned)]
    runs = [dispatch_once(d) for d in everyone] + [d.dispatch() for d in everyone]

    await gather([*closes, *runs])

    stored = {r.id: r for r in await world.all_requests()}
    assert {stored[r.id].status for r in assigned} == {RequestStatus.CLOSED}
    taken = [stored[r.id] for r in waiting if stored[r.id].status is ASSIGNED]
    assert len(taken) == 6
    await assert_capacity_kept(world, CHAT)
    assert set((await handler_counts(world.engines)).values()) == {1}
    await check_one_primary_per_client(world, list(stored.values()))
    await assert_nothing_left_deliverable(world, CHAT)
    # One more run finds nothing to move.
    assert await dispatch_once(world.deps) == 0


async def _free_without_dispatch(world: World, **values: object) -> None:
    """Change every counsellor's row directly: capacity appears with no dispatch run (as if events were lost)."""
    async with world.engines.write.begin() as conn:
        await conn.execute(
            update(counsellors_table).where(counsellors_table.c.role == "COUNSELLOR").values(values)
        )


async def test_concurrent_dispatch_runs_assign_each_queued_chat_once(
    world: World, processes: list[Process]
) -> None:
    for name in ("Anna", "Bert", "Carla"):
        await world.counsellor(name, online=False, chat=2)
    waiting = [await world.submit(await world.client(f"Client {i:02}"), CHAT) for i in range(20)]
    assert {r.status for r in waiting} == {QUEUED}
    await _free_without_dispatch(world, online_status=OnlineStatus.ONLINE.value)
    everyone = all_deps(world, processes)

    moved = await gather([dispatch_once(d) for d in everyone * 2])

    assert sum(moved) == 6
    stored = await world.all_requests()
    assert Counter(r.status for r in stored) == {ASSIGNED: 6, QUEUED: 14}
    # The six oldest were taken.
    assert [r.status for r in sorted(stored, key=lambda r: r.id)][:6] == [ASSIGNED] * 6
    await assert_capacity_kept(world, CHAT)
    assert set((await handler_counts(world.engines)).values()) == {1}
    await check_one_primary_per_client(world, stored)


async def test_concurrent_dispatch_runs_drain_the_mail_queue_into_an_unlimited_counsellor_once(
    world: World, processes: list[Process]
) -> None:
    ulla = await world.counsellor("Ulla", online=False)
    waiting = [await world.submit(await world.client(f"Client {i:02}"), MAIL) for i in range(20)]
    assert {r.status for r in waiting} == {QUEUED}
    await _free_without_dispatch(world, mail_availability=MailAvailability.UNLIMITED.value)
    everyone = all_deps(world, processes)

    moved = await gather([dispatch_once(d) for d in everyone * 2])

    assert sum(moved) == 20
    assert (await world.state(ulla.id)).open_mail_count == 20
    stored = await world.all_requests()
    assert {(r.status, r.counsellor_id) for r in stored} == {(ASSIGNED, ulla.id)}
    assert set((await handler_counts(world.engines)).values()) == {1}
    await assert_capacity_kept(world, CHAT)


async def test_concurrent_submits_with_one_idempotency_key_store_one_request(
    world: World, processes: list[Process]
) -> None:
    anna = await world.counsellor("Anna", chat=5)
    client = await world.client()
    everyone = all_deps(world, processes)

    returned = await gather(
        [submit_request(everyone[i % 3], client, CHAT, "Hallo", None, "once") for i in range(6)]
    )

    assert len({r.id for r in returned}) == 1
    assert len(await world.all_requests()) == 1
    assert (await world.state(anna.id)).active_chat_count == 1
    assert len(await world.history(client)) == 1


async def test_a_racing_manual_primary_change_and_first_request_keep_the_history_a_chain(
    world: World, processes: list[Process]
) -> None:
    await world.counsellor("Anna", chat=50)
    bert = await world.counsellor("Bert", chat=50, online=False)
    for round_ in range(10):
        client: Viewer = await world.client(f"Client {round_}")
        await gather(
            [
                submit_request(world.deps, client, CHAT, "Hallo", None, None),
                change_primary_counsellor(
                    processes[0].deps, world.admin, client_id(client), bert.id, "Übergabe"
                ),
            ]
        )
        history = await world.history(client)
        previous = None
        for entry in history:
            assert entry.previous_counsellor_id == previous, history
            previous = entry.new_counsellor_id
        assert await world.primary_of(client) == previous == bert.id
        assert len([h for h in history if h.source is AssignmentSource.AUTOMATIC]) <= 1
    await assert_capacity_kept(world, CHAT)


async def test_concurrent_changes_of_one_counsellors_settings_all_persist(
    world: World, processes: list[Process]
) -> None:
    """Online status, capacity, mail availability and absence set at the same moment must not undo each other."""
    xena = await world.counsellor("Xena", online=False)
    me = Viewer(role=world.admin.role, counsellor_id=world.admin.counsellor_id)
    a, b, c = all_deps(world, processes)
    for round_ in range(10):
        on = round_ % 2 == 0
        capacity = 2 + round_
        mode = MailAvailability.UNLIMITED if on else MailAvailability.NONE
        await gather(
            [
                set_online_status(a, me, OnlineStatus.ONLINE if on else OnlineStatus.OFFLINE, xena.id),
                set_chat_capacity(b, me, capacity, xena.id),
                set_mail_availability(c, me, mode, None, xena.id),
                set_absence(a, me, on, "weg" if on else None, xena.id),
            ]
        )
        stored = await world.state(xena.id)
        assert (stored.online_status is OnlineStatus.ONLINE) == on, round_
        assert stored.chat_capacity == capacity, round_
        assert stored.mail_availability is mode, round_
        assert stored.absent == on, round_


async def test_concurrent_changes_of_different_routing_settings_all_persist(
    world: World, processes: list[Process]
) -> None:
    """Setting the fallback counsellor while another admin changes the wait must not undo either change."""
    fritz = await world.counsellor("Fritz", online=False)
    a, b = world.deps, processes[0].deps
    for round_ in range(10):
        fallback = fritz.id if round_ % 2 == 0 else None
        await gather(
            [
                set_fallback_counsellor(a, world.admin, fallback),
                update_settings(
                    b,
                    world.admin,
                    SettingsUpdate(
                        primary_chat_wait_seconds=round_ + 1,
                        accept_timeout_seconds=UNCHANGED,
                        fallback_counsellor_id=UNCHANGED,
                    ),
                ),
            ]
        )
        async with world.deps.uow(write=False) as uow:
            settings = await uow.settings.get()
        assert (settings.fallback_counsellor_id, settings.primary_chat_wait_seconds) == (
            fallback,
            round_ + 1,
        ), round_


async def test_concurrent_records_of_one_handler_all_succeed_and_store_one_row(
    world: World, processes: list[Process]
) -> None:
    """record_handler is one INSERT ... ON CONFLICT DO NOTHING: a parallel record of the same
    counsellor waits for the first and then changes nothing, instead of failing on the key."""
    anna = await world.counsellor("Anna", chat=5)
    bert = await world.counsellor("Bert", chat=5)
    request = await world.submit(await world.client())
    assert request.counsellor_id == anna.id
    everyone = all_deps(world, processes)

    async def record(deps: Deps) -> None:
        async with deps.uow() as uow:
            await uow.requests.record_handler(request.id, bert.id)
            await uow.commit()

    await gather([record(everyone[i % 3]) for i in range(6)])

    assert (await handler_counts(world.engines))[request.id] == 2  # Anna (routing) and Bert, once


async def test_a_first_request_passes_over_a_counsellor_whose_row_another_router_holds(
    backend: Backend, world: World, processes: list[Process]
) -> None:
    """The hot row: concurrent first requests all rank the same least-loaded counsellor first.
    While another transaction holds that counsellor's row, a first request claims the next free
    candidate (SKIP LOCKED) instead of queueing behind the lock, and its trace names the one taken."""
    if backend.name != "postgres":
        pytest.skip("SQLite has one writer at a time and no row locks to pass over")
    anna = await world.counsellor("Anna", chat=5)  # ranked first: created first, nobody assigned
    bert = await world.counsellor("Bert", chat=5)
    client = await world.client()
    held, done = asyncio.Event(), asyncio.Event()

    async def hold_anna() -> None:
        async with processes[0].deps.uow() as uow:
            await uow.counsellors.lock(anna.id)
            held.set()
            await done.wait()

    async def submit_while_held() -> Request:
        await held.wait()
        try:
            return await submit_request(processes[1].deps, client, CHAT, "Hallo", None, None)
        finally:
            done.set()

    async with asyncio.timeout(30):  # bounds a regression only: waiting on Anna's row never ends
        _, request = await asyncio.gather(hold_anna(), submit_while_held())

    assert request.status is ASSIGNED and request.counsellor_id == bert.id
    assert request.routing_reason is RoutingReason.FIRST_REQUEST
    assert request.trace[-1].counsellor_id == bert.id
    assert (await world.state(anna.id)).active_chat_count == 0
    assert (await world.state(bert.id)).active_chat_count == 1
    assert [c.new_counsellor_id for c in await world.history(client)] == [bert.id]

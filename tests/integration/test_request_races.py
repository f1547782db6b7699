"""Writes of one request that can race (issue 8): each pair runs concurrently on two 'processes',
many rounds; the final row and every counsellor's loads must be consistent.

Rounds take turns: in one, each racer in turn goes first, holding the request's row lock while
the others start (so every order is exercised, not only the one the scheduler happens to prefer);
in the next, all start at once. Each counsellor holds an accepted `anchor` chat throughout, so a
slot released twice shows as a stored load below the chats held (a load of 1 cannot drop below 0).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from domain.errors import Conflict, DomainError
from domain.model import Counsellor, OnlineStatus, Request, RequestStatus, TraceOutcome, Viewer
from domain.ports import UnitOfWork, UnitOfWorkFactory
from domain.use_cases import Deps
from domain.use_cases.acceptance import accept_request, take_back_unaccepted
from domain.use_cases.counsellors import SettingsUpdate, set_online_status, update_settings
from domain.use_cases.privacy import erase_client
from domain.use_cases.requests import cancel_request, close_request
from domain.use_cases.routing import dispatch_once
from tests.integration.conftest import Process, World, client_id, load_check, staff

ROUNDS = 24
ACCEPT = 30
ASSIGNED, QUEUED = RequestStatus.ASSIGNED, RequestStatus.QUEUED
CLOSED, CANCELLED = RequestStatus.CLOSED, RequestStatus.CANCELLED
REQUEST_LOCKS = {"lock", "lock_queued", "lock_unaccepted"}


# --- racing ---------------------------------------------------------------------------------------


class _Signalling:
    """A proxy of a unit of work (or its request repository) that sets `held` once a request's row
    lock was taken through it: the moment the others may start."""

    def __init__(self, inner: Any, held: asyncio.Event) -> None:
        self._inner, self._held = inner, held

    async def __aenter__(self) -> _Signalling:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._inner.__aexit__(*exc)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if name == "requests":
            return _Signalling(found, self._held)
        if name not in REQUEST_LOCKS:
            return found

        async def locking(*args: Any) -> Any:
            locked = await found(*args)
            self._held.set()
            return locked

        return locking


class _SignallingFactory:
    def __init__(self, factory: UnitOfWorkFactory, held: asyncio.Event) -> None:
        self._factory, self._held = factory, held

    def __call__(self, *, write: bool = True) -> UnitOfWork:
        return _Signalling(self._factory(write=write), self._held)  # type: ignore[return-value]


@dataclass
class Racer:
    deps: Deps
    call: Callable[[Deps], Awaitable[Any]]

    async def run(self, held: asyncio.Event | None = None) -> Any:
        """The call's result, or the DomainError it raised (anything else fails the test)."""
        deps = self.deps
        if held is not None:
            deps = dataclasses.replace(deps, uow=_SignallingFactory(deps.uow, held))
        try:
            return await self.call(deps)
        except DomainError as error:
            return error


async def race(n: int, *racers: Racer) -> list[Any]:
    """Round `n` of a race; each racer's result or DomainError, in the order given."""
    lead = n % (len(racers) + 1)
    if lead == len(racers):
        return list(await asyncio.gather(*(r.run() for r in racers)))
    held = asyncio.Event()
    leading = asyncio.ensure_future(racers[lead].run(held))
    signalled = asyncio.ensure_future(held.wait())
    await asyncio.wait([leading, signalled], return_when=asyncio.FIRST_COMPLETED)
    signalled.cancel()
    others = [r for i, r in enumerate(racers) if i != lead]
    followed = iter(await asyncio.gather(*(r.run() for r in others)))
    led = await leading
    return [led if i == lead else next(followed) for i in range(len(racers))]


# --- scenario helpers ------------------------------------------------------------------------------


async def with_anchor(world: World, name: str, chat: int = 2) -> Counsellor:
    """An ONLINE counsellor with `chat` slots, one held by an accepted chat for the whole test."""
    counsellor = await world.counsellor(name, chat=chat)
    anchor = await world.submit(await world.client(f"Anchor of {name}"))
    assert anchor.counsellor_id == counsellor.id
    await accept_request(world.deps, staff(counsellor), anchor.id)
    return counsellor


async def loads(world: World, counsellor: Counsellor) -> tuple[int, int]:
    """(stored chat load, ASSIGNED chats held): equal unless a slot leaked or was released twice."""
    chat, held, *_ = (await load_check(world.engines))[counsellor.id]
    return chat, held


async def assert_loads_agree(world: World) -> None:
    for counsellor_id, (chat, chats, _, mail, mails, _) in (await load_check(world.engines)).items():
        assert (chat, mail) == (chats, mails), f"stored loads of counsellor {counsellor_id}"


async def assigned_chat(world: World, to: Counsellor) -> tuple[Viewer, Request]:
    client = await world.client()
    request = await world.submit(client)
    assert (request.status, request.counsellor_id) == (ASSIGNED, to.id)
    return client, request


def timeouts(request: Request) -> int:
    return [step.outcome for step in request.trace].count(TraceOutcome.ACCEPT_TIMEOUT)


@pytest.fixture
def other(processes: list[Process]) -> Deps:
    return processes[0].deps


# --- the races ---------------------------------------------------------------------------------------


async def test_close_racing_an_accept_timeout_ends_one_way(world: World, other: Deps) -> None:
    await update_settings(world.deps, world.admin, SettingsUpdate(accept_timeout_seconds=ACCEPT))
    anna = await with_anchor(world, "Anna")
    winners: Counter[str] = Counter()
    for n in range(ROUNDS):
        _, request = await assigned_chat(world, anna)
        world.clock.advance(ACCEPT + 1)
        closed, taken = await race(
            n,
            Racer(world.deps, lambda d: close_request(d, staff(anna), request.id)),  # noqa: B023
            Racer(other, take_back_unaccepted),
        )
        stored = await world.request(request.id)
        if isinstance(closed, Request):
            winners["close"] += 1
            assert taken == 0
            assert (stored.status, stored.counsellor_id, timeouts(stored)) == (CLOSED, anna.id, 0)
        else:  # taken back first; nobody else is free, so it waits in the queue, never for Anna
            winners["timeout"] += 1
            assert isinstance(closed, Conflict), closed
            assert taken == 1
            assert (stored.status, stored.counsellor_id, stored.excluded_ids, timeouts(stored)) == (
                QUEUED,
                None,
                (anna.id,),
                1,
            )
        assert await loads(world, anna) == (1, 1)  # the anchor alone: the slot was released once
    assert set(winners) == {"close", "timeout"}, winners
    await assert_loads_agree(world)


async def test_accept_racing_an_accept_timeout_ends_one_way(world: World, other: Deps) -> None:
    await update_settings(world.deps, world.admin, SettingsUpdate(accept_timeout_seconds=ACCEPT))
    fay = await with_anchor(world, "Fay")
    winners: Counter[str] = Counter()
    for n in range(ROUNDS):
        _, request = await assigned_chat(world, fay)
        world.clock.advance(ACCEPT + 1)
        accepted, taken = await race(
            n,
            Racer(world.deps, lambda d: accept_request(d, staff(fay), request.id)),  # noqa: B023
            Racer(other, take_back_unaccepted),
        )
        stored = await world.request(request.id)
        if isinstance(accepted, Request):
            winners["accept"] += 1
            assert taken == 0
            assert (stored.status, stored.counsellor_id, stored.accepted_at, timeouts(stored)) == (
                ASSIGNED,
                fay.id,
                world.clock.now(),
                0,
            )
            assert await loads(world, fay) == (2, 2)
            await close_request(world.deps, staff(fay), request.id)
        else:
            winners["timeout"] += 1
            assert isinstance(accepted, Conflict), accepted  # queued again before Fay accepted
            assert taken == 1
            assert (stored.status, stored.excluded_ids, stored.accepted_at, timeouts(stored)) == (
                QUEUED,
                (fay.id,),
                None,
                1,
            )
        assert await loads(world, fay) == (1, 1)
    assert set(winners) == {"accept", "timeout"}, winners
    await assert_loads_agree(world)


async def test_close_racing_a_close_succeeds_once(world: World, other: Deps) -> None:
    dana = await with_anchor(world, "Dana")
    for n in range(ROUNDS):
        _, request = await assigned_chat(world, dana)
        results = await race(
            n,
            Racer(world.deps, lambda d: close_request(d, staff(dana), request.id)),  # noqa: B023
            Racer(other, lambda d: close_request(d, world.admin, request.id)),  # noqa: B023
        )
        assert sorted(type(r).__name__ for r in results) == ["InvalidTransition", "Request"], results
        stored = await world.request(request.id)
        assert (stored.status, stored.counsellor_id, stored.closed_at) == (CLOSED, dana.id, world.clock.now())
        assert await loads(world, dana) == (1, 1)
    await assert_loads_agree(world)


@pytest.mark.parametrize("by_client", [False, True], ids=["staff", "client"])
async def test_cancel_racing_a_dispatch_never_leaves_a_cancelled_request_holding_a_slot(
    world: World, other: Deps, by_client: bool
) -> None:
    cleo = await with_anchor(world, "Cleo")
    # Changes Cleo's status without a dispatch run of its own: the race has one.
    quiet = Deps(uow=world.deps.uow, clock=world.deps.clock, hasher=world.deps.hasher)
    assigned_first = 0
    for n in range(ROUNDS):
        await set_online_status(quiet, world.admin, OnlineStatus.OFFLINE, cleo.id)
        client = await world.client()
        request = await world.submit(client)
        assert request.status is QUEUED
        await set_online_status(quiet, world.admin, OnlineStatus.ONLINE, cleo.id)
        canceller = client if by_client else world.admin
        cancelled, moved = await race(
            n,
            Racer(world.deps, lambda d: cancel_request(d, canceller, request.id)),  # noqa: B023
            Racer(other, dispatch_once),
        )
        stored = await world.request(request.id)
        assigned_first += moved
        if isinstance(cancelled, Request):
            assert stored.status is CANCELLED
            assert await loads(world, cleo) == (1, 1)
        else:  # only a client's cancel loses: Cleo took it first, and a client cancels only queued ones
            assert by_client and isinstance(cancelled, Conflict), cancelled
            assert (moved, stored.status, stored.counsellor_id) == (1, ASSIGNED, cleo.id)
            assert await loads(world, cleo) == (2, 2)
            await close_request(world.deps, staff(cleo), request.id)
    assert 0 < assigned_first < ROUNDS
    await assert_loads_agree(world)


async def test_cancels_racing_the_erasure_of_the_client_cancel_each_request_once(
    world: World, other: Deps
) -> None:
    erin = await with_anchor(world, "Erin", chat=3)
    for n in range(ROUNDS):
        client, first = await assigned_chat(world, erin)
        second = await world.submit(client)
        waiting = await world.submit(client, message="Ich warte")
        assert second.counsellor_id == erin.id
        assert waiting.status is QUEUED  # Erin is full, nobody else is online
        erased, by_staff, by_client = await race(
            n,
            Racer(other, lambda d: erase_client(d, world.admin, client_id(client))),  # noqa: B023
            # The later of two chats with one counsellor: a lock order that could deadlock.
            Racer(world.deps, lambda d: cancel_request(d, world.admin, second.id)),  # noqa: B023
            Racer(world.deps, lambda d: cancel_request(d, client, waiting.id)),  # noqa: B023
        )
        assert not isinstance(erased, DomainError), erased
        for result in (by_staff, by_client):  # a cancel after the erasure finds nothing open
            assert isinstance(result, (Request, Conflict)), result
        for request in (first, second, waiting):
            stored = await world.request(request.id)
            assert (stored.status, stored.message, stored.subject) == (CANCELLED, None, None)
        # A cancel may free a slot of Erin's and hand `waiting` to her before the erasure cancels
        # it: either way each slot is released once.
        assert await loads(world, erin) == (1, 1)
    await assert_loads_agree(world)

"""The timers and what goes with them, over the in-memory fakes with a fixed clock (docs/routing.md):
the bounded wait for a primary, presence lapses, accept timeouts, onlyOwnClients, deactivation,
reassigning clients, queue positions and wait estimates, and the routing settings.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.errors import BadUserInput, Conflict, Forbidden
from domain.events import CounsellorStateChanged, PrimaryCounsellorChanged, RequestChanged
from domain.model import (
    AssignmentSource,
    Channel,
    Client,
    Counsellor,
    MailAvailability,
    OnlineStatus,
    Request,
    RequestStatus,
    Role,
    RoutingReason,
    Settings,
    Viewer,
)
from domain.ports import ClientQuery
from domain.use_cases import Deps
from domain.use_cases.acceptance import accept_request, take_back_unaccepted
from domain.use_cases.availability import availability
from domain.use_cases.clients import reassign_clients
from domain.use_cases.counsellors import (
    CounsellorUpdate,
    SettingsUpdate,
    set_absence,
    set_online_status,
    update_counsellor,
    update_settings,
)
from domain.use_cases.presence import heartbeat, keep_alive, lapse_silent_counsellors, sign_off
from domain.use_cases.queue import QueueStatus, queue_status
from domain.use_cases.reads import client_page_unchecked
from domain.use_cases.requests import cancel_request, close_request, submit_request
from graph.presence_keeper import PresenceKeeper
from tests.fakes import FakeUnitOfWork, FakeUnitOfWorkFactory, FixedClock
from tests.support.waiting import eventually

CHAT, MAIL = Channel.CHAT, Channel.MAIL
ASSIGNED, QUEUED = RequestStatus.ASSIGNED, RequestStatus.QUEUED
ADMIN = Viewer(role=Role.ADMIN, counsellor_id=999)
WAIT = 30
PRESENCE = 60
ACCEPT = 30


def staff(counsellor: Counsellor) -> Viewer:
    return Viewer(role=Role.COUNSELLOR, counsellor_id=counsellor.id)


def as_client(client: Client) -> Viewer:
    return Viewer(role=Role.CLIENT, client_id=client.id)


def settings(factory: FakeUnitOfWorkFactory, **values: Any) -> None:
    """Write settings straight into the store (a scenario set-up)."""
    factory.store.settings = Settings(**values)


async def online(deps: Deps, factory: FakeUnitOfWorkFactory, **overrides: Any) -> Counsellor:
    """A counsellor who goes ONLINE through the use case (so their session was seen now)."""
    counsellor = factory.seed_counsellor(**overrides)
    await set_online_status(deps, staff(counsellor), OnlineStatus.ONLINE, None)
    return factory.counsellor(counsellor.id)


async def submit(deps: Deps, client: Client, channel: Channel = CHAT) -> Request:
    return await submit_request(deps, as_client(client), channel, "Hallo", None, None)


def trace(factory: FakeUnitOfWorkFactory, request: Request) -> list[tuple[str, int | None, str | None]]:
    return [(s.outcome, s.counsellor_id, s.detail) for s in factory.request(request.id).trace]


def history(
    factory: FakeUnitOfWorkFactory, client: Client
) -> list[tuple[int | None, int | None, AssignmentSource]]:
    return [
        (h.previous_counsellor_id, h.new_counsellor_id, h.source)
        for h in factory.store.history
        if h.client_id == client.id
    ]


def held_by(
    factory: FakeUnitOfWorkFactory, request: Request
) -> tuple[RequestStatus, int | None, RoutingReason | None]:
    stored = factory.request(request.id)
    return stored.status, stored.counsellor_id, stored.routing_reason


# --- the bounded wait for a primary (chat) -------------------------------------------------------


async def _waiting_for_busy_primary(
    deps: Deps, factory: FakeUnitOfWorkFactory, *, colleague_online: bool = True
) -> tuple[Counsellor, Counsellor, Client, Request, Request]:
    """Primary P holds Kim's first chat (capacity 1); Kim's second chat waits for P."""
    primary = await online(deps, factory)
    colleague = await online(deps, factory) if colleague_online else factory.seed_counsellor()
    kim = factory.seed_client(primary_counsellor_id=primary.id)
    held = await submit(deps, kim)
    assert held_by(factory, held) == (ASSIGNED, primary.id, RoutingReason.PRIMARY_COUNSELLOR)
    settings(factory, primary_chat_wait_seconds=WAIT)
    waiting = await submit(deps, kim)
    return primary, colleague, kim, held, waiting


async def test_chat_is_queued_for_the_busy_primary_alone(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    primary, colleague, _, _, waiting = await _waiting_for_busy_primary(deps, factory)
    stored = factory.request(waiting.id)
    assert (stored.status, stored.waiting_for_id) == (QUEUED, primary.id)
    assert stored.wait_until == clock.now() + timedelta(seconds=WAIT)
    assert trace(factory, waiting) == [
        ("PRIMARY_SKIPPED", primary.id, "full (1/1 chats)"),
        ("WAITING_FOR_PRIMARY", primary.id, f"up to {WAIT} s"),
    ]
    clock.advance(WAIT - 1)
    await deps.dispatch()
    assert factory.request(waiting.id).status is QUEUED  # the colleague is free, but the wait runs
    assert factory.counsellor(colleague.id).active_chat_count == 0


async def test_primary_freed_during_the_wait_takes_the_chat(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    primary, _, _, held, waiting = await _waiting_for_busy_primary(deps, factory)
    clock.advance(10)
    await close_request(deps, staff(primary), held.id)
    assert held_by(factory, waiting) == (ASSIGNED, primary.id, RoutingReason.PRIMARY_COUNSELLOR)
    stored = factory.request(waiting.id)
    assert (stored.waiting_for_id, stored.wait_until) == (None, None)
    assert trace(factory, waiting)[-1] == ("PRIMARY_TAKES", primary.id, None)
    assert stored.trace[-1].at == clock.now()


async def test_wait_ends_and_a_chat_free_colleague_takes_it_primary_unchanged(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    primary, colleague, kim, _, waiting = await _waiting_for_busy_primary(deps, factory)
    clock.advance(WAIT + 1)
    await deps.dispatch()
    assert held_by(factory, waiting) == (ASSIGNED, colleague.id, RoutingReason.PRIMARY_UNAVAILABLE)
    assert trace(factory, waiting)[2:] == [
        ("PRIMARY_SKIPPED", primary.id, "full (1/1 chats)"),
        ("WAIT_ENDED", primary.id, f"waited {WAIT} s"),
        ("CANDIDATE_CHOSEN", colleague.id, "holds 0 chat requests, never assigned; 1 free"),
    ]
    assert factory.client(kim.id).primary_counsellor_id == primary.id
    assert history(factory, kim) == []


async def test_wait_ends_with_nobody_free_then_the_first_who_becomes_free_takes_it(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    primary, colleague, kim, _, waiting = await _waiting_for_busy_primary(
        deps, factory, colleague_online=False
    )
    clock.advance(WAIT + 1)
    await deps.dispatch()
    stored = factory.request(waiting.id)
    assert stored.status is QUEUED
    assert len([s for s in stored.trace if s.outcome == "WAITING_FOR_PRIMARY"]) == 1  # no second wait

    clock.advance(5)
    await set_online_status(deps, staff(colleague), OnlineStatus.ONLINE, None)
    assert held_by(factory, waiting) == (ASSIGNED, colleague.id, RoutingReason.PRIMARY_UNAVAILABLE)
    assert factory.client(kim.id).primary_counsellor_id == primary.id


async def test_wait_ends_with_nobody_free_and_the_primary_is_first_free(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    primary, _, _, held, waiting = await _waiting_for_busy_primary(deps, factory, colleague_online=False)
    clock.advance(WAIT + 1)
    await deps.dispatch()
    assert factory.request(waiting.id).status is QUEUED
    await close_request(deps, staff(primary), held.id)
    assert held_by(factory, waiting) == (ASSIGNED, primary.id, RoutingReason.PRIMARY_COUNSELLOR)


@pytest.mark.parametrize("wait", ["running", "ended-nobody-free"])
async def test_dispatch_opens_no_write_transaction_for_a_chat_it_cannot_move(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, wait: str
) -> None:
    """routing._promising: only the requests the policy would move get a write transaction (on
    SQLite each one takes the database's single write lock)."""
    running = wait == "running"
    await _waiting_for_busy_primary(deps, factory, colleague_online=running)
    clock.advance(5 if running else WAIT + 1)
    if not running:
        await deps.dispatch()  # the wait ends; nobody is free, so the chat stays queued
    opened: list[bool] = []
    original = FakeUnitOfWorkFactory.__call__

    def counting(self: FakeUnitOfWorkFactory, *, write: bool = True) -> FakeUnitOfWork:
        opened.append(write)
        return original(self, write=write)

    monkeypatch.setattr(FakeUnitOfWorkFactory, "__call__", counting)
    await deps.dispatch()
    assert opened.count(True) == 0, f"a write transaction for a chat whose wait is {wait}"


# --- presence ------------------------------------------------------------------------------------


async def test_silent_counsellor_lapses_after_the_presence_timeout_exactly_once(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    settings(factory, presence_timeout_seconds=PRESENCE)
    anna = await online(deps, factory)
    factory.published.clear()

    clock.advance(PRESENCE)
    assert await lapse_silent_counsellors(deps) == []  # silent for exactly the timeout: not yet
    assert factory.counsellor(anna.id).online_status is OnlineStatus.ONLINE

    clock.advance(1)
    lapsed = await lapse_silent_counsellors(deps)
    assert [c.id for c in lapsed] == [anna.id]
    assert lapsed[0].online_status is OnlineStatus.OFFLINE
    assert factory.counsellor(anna.id).online_status is OnlineStatus.OFFLINE
    events = [e for e in factory.published if isinstance(e, CounsellorStateChanged)]
    assert [(e.counsellor.id, e.counsellor.online_status) for e in events] == [
        (anna.id, OnlineStatus.OFFLINE)
    ]

    assert await lapse_silent_counsellors(deps) == []  # once only
    assert len(factory.published) == 1


async def test_heartbeat_restarts_the_presence_clock(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    settings(factory, presence_timeout_seconds=PRESENCE)
    anna = await online(deps, factory)
    clock.advance(50)
    seen = await heartbeat(deps, staff(anna))
    assert seen.id == anna.id
    assert factory.counsellor(anna.id).last_seen_at == clock.now()
    clock.advance(PRESENCE)
    assert await lapse_silent_counsellors(deps) == []
    clock.advance(1)
    assert [c.id for c in await lapse_silent_counsellors(deps)] == [anna.id]


async def test_keep_alive_covers_everyone_with_an_open_subscription(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    settings(factory, presence_timeout_seconds=PRESENCE)
    first = await online(deps, factory)
    second = await online(deps, factory)
    third = await online(deps, factory)
    clock.advance(PRESENCE - 1)
    await keep_alive(deps, [first.id, second.id])
    await keep_alive(deps, [])
    clock.advance(2)
    assert [c.id for c in await lapse_silent_counsellors(deps)] == [third.id]


async def test_away_and_never_seen_counsellors_lapse_too_offline_ones_do_not(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    settings(factory, presence_timeout_seconds=PRESENCE)
    away = await online(deps, factory)
    await set_online_status(deps, staff(away), OnlineStatus.AWAY, None)
    never_seen = factory.seed_counsellor(online_status=OnlineStatus.ONLINE)  # e.g. from before presence
    factory.seed_counsellor()  # OFFLINE
    clock.advance(PRESENCE + 1)
    lapsed = await lapse_silent_counsellors(deps)
    assert sorted(c.id for c in lapsed) == sorted([away.id, never_seen.id])


async def test_lapsed_counsellor_keeps_assigned_chats_and_is_offered_nothing_new(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    settings(factory, presence_timeout_seconds=PRESENCE)
    anna = await online(deps, factory, chat_capacity=2)
    kim, lou = factory.seed_client(primary_counsellor_id=anna.id), factory.seed_client()
    held = await submit(deps, kim)
    clock.advance(PRESENCE + 1)
    await lapse_silent_counsellors(deps)

    assert held_by(factory, held) == (ASSIGNED, anna.id, RoutingReason.PRIMARY_COUNSELLOR)
    assert factory.counsellor(anna.id).active_chat_count == 1
    new = await submit(deps, lou)
    assert factory.request(new.id).status is QUEUED
    again = await submit(deps, kim)
    assert factory.request(again.id).status is QUEUED
    assert trace(factory, again)[0] == ("PRIMARY_SKIPPED", anna.id, "offline")
    view = await availability(deps, as_client(kim))
    assert view.primary is not None
    assert (view.primary.shown.online_status, view.primary.chat_available) == (
        OnlineStatus.OFFLINE,
        False,
    )
    assert view.chat_available is False


async def test_lapse_uses_the_timeout_from_the_settings(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    settings(factory, presence_timeout_seconds=10)
    anna = await online(deps, factory)
    clock.advance(11)
    assert [c.id for c in await lapse_silent_counsellors(deps)] == [anna.id]


async def test_sign_off_sets_offline_at_once_and_only_once(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    anna = await online(deps, factory)
    factory.published.clear()
    await sign_off(deps, anna.id)
    assert factory.counsellor(anna.id).online_status is OnlineStatus.OFFLINE
    await sign_off(deps, anna.id)
    assert len([e for e in factory.published if isinstance(e, CounsellorStateChanged)]) == 1


async def test_presence_keeper_follows_a_shortened_timeout_at_once(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    """An open subscription must keep its counsellor alive also right after an admin shortens
    presenceTimeoutSeconds (real time: the keeper sleeps on the event loop)."""
    settings(factory, presence_timeout_seconds=PRESENCE)  # the keeper reports every 10 s
    anna = await online(deps, factory)
    keeper = PresenceKeeper(deps)
    await keeper.start()

    async def reported() -> bool:
        return factory.counsellor(anna.id).last_seen_at == clock.now()

    try:
        async with keeper.holding(anna.id):
            clock.advance(1)  # a report from now on is the keeper's round, not holding's own
            # The keeper's first round reports at once; it then waits with the old interval (10 s).
            await eventually(reported, "the keeper's first round")
            factory.store.settings = Settings(presence_timeout_seconds=3)  # report every second now
            clock.advance(2)
            # The next report within the new interval and a margin: the old one would take 10 s.
            await eventually(reported, "a report at the shortened interval", within=5)
            clock.advance(2)
            assert await lapse_silent_counsellors(deps) == []
    finally:
        await keeper.stop()


# --- accept timeouts ---------------------------------------------------------------------------


async def test_unaccepted_chat_is_taken_back_and_never_offered_to_the_same_counsellor(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    settings(factory, accept_timeout_seconds=ACCEPT)
    primary = await online(deps, factory)
    kim = factory.seed_client(primary_counsellor_id=primary.id)
    chat = await submit(deps, kim)
    assert held_by(factory, chat) == (ASSIGNED, primary.id, RoutingReason.PRIMARY_COUNSELLOR)
    colleague = await online(deps, factory)

    clock.advance(ACCEPT)
    assert await take_back_unaccepted(deps) == 0  # exactly the timeout: not overdue yet
    clock.advance(1)
    assert await take_back_unaccepted(deps) == 1

    assert held_by(factory, chat) == (ASSIGNED, colleague.id, RoutingReason.PRIMARY_UNAVAILABLE)
    stored = factory.request(chat.id)
    assert stored.excluded_ids == (primary.id,)
    assert stored.assigned_at == clock.now()
    assert factory.counsellor(primary.id).active_chat_count == 0
    assert factory.client(kim.id).primary_counsellor_id == primary.id  # the relation stays
    assert history(factory, kim) == []
    assert trace(factory, chat)[1:] == [
        ("ACCEPT_TIMEOUT", primary.id, f"not accepted within {ACCEPT} s"),
        ("PRIMARY_SKIPPED", primary.id, "did not accept this request in time"),
        ("CANDIDATE_CHOSEN", colleague.id, "holds 0 chat requests, never assigned; 1 free"),
    ]
    assert any(
        isinstance(e, RequestChanged) and e.assigned and e.request.counsellor_id == colleague.id
        for e in factory.published
    )

    # The colleague lets it lapse too: nobody else is left, and the primary (free now) is not asked.
    clock.advance(ACCEPT + 1)
    assert await take_back_unaccepted(deps) == 1
    assert factory.request(chat.id).status is QUEUED
    assert factory.request(chat.id).excluded_ids == (primary.id, colleague.id)
    await deps.dispatch()
    assert factory.request(chat.id).status is QUEUED
    assert (
        factory.counsellor(primary.id).active_chat_count,
        factory.counsellor(colleague.id).active_chat_count,
    ) == (0, 0)

    third = await online(deps, factory)
    assert held_by(factory, chat) == (ASSIGNED, third.id, RoutingReason.PRIMARY_UNAVAILABLE)


async def test_accepted_chat_stays(deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock) -> None:
    settings(factory, accept_timeout_seconds=ACCEPT)
    anna = await online(deps, factory)
    await online(deps, factory)
    chat = await submit(deps, factory.seed_client(primary_counsellor_id=anna.id))
    clock.advance(ACCEPT - 1)
    accepted = await accept_request(deps, staff(anna), chat.id)
    assert accepted.accepted_at == clock.now()
    clock.advance(ACCEPT * 10)
    assert await take_back_unaccepted(deps) == 0
    assert held_by(factory, chat) == (ASSIGNED, anna.id, RoutingReason.PRIMARY_COUNSELLOR)
    assert factory.request(chat.id).accepted_at == accepted.accepted_at


async def test_accepting_twice_keeps_the_first_time_and_only_the_holder_may_accept(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    anna = await online(deps, factory)
    kim = factory.seed_client(primary_counsellor_id=anna.id)
    chat = await submit(deps, kim)
    first = (await accept_request(deps, staff(anna), chat.id)).accepted_at
    clock.advance(5)
    assert (await accept_request(deps, staff(anna), chat.id)).accepted_at == first
    with pytest.raises(Forbidden):
        await accept_request(deps, ADMIN, chat.id)
    await close_request(deps, staff(anna), chat.id)
    with pytest.raises(Conflict):
        await accept_request(deps, staff(anna), chat.id)


async def test_without_an_accept_timeout_nothing_is_taken_back(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    anna = await online(deps, factory)
    await online(deps, factory)
    chat = await submit(deps, factory.seed_client(primary_counsellor_id=anna.id))
    clock.advance(86_400)
    assert await take_back_unaccepted(deps) == 0
    assert factory.request(chat.id).counsellor_id == anna.id


async def test_mail_is_never_taken_back(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    settings(factory, accept_timeout_seconds=ACCEPT)
    anna = factory.seed_counsellor(mail_availability=MailAvailability.UNLIMITED)
    factory.seed_counsellor(mail_availability=MailAvailability.UNLIMITED)
    mail = await submit(deps, factory.seed_client(primary_counsellor_id=anna.id), MAIL)
    clock.advance(ACCEPT * 10)
    assert await take_back_unaccepted(deps) == 0
    assert factory.request(mail.id).counsellor_id == anna.id


async def test_primary_set_by_the_lapsed_request_passes_to_the_next_counsellor(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    settings(factory, accept_timeout_seconds=ACCEPT)
    first = await online(deps, factory)
    kim = factory.seed_client()
    chat = await submit(deps, kim)
    assert held_by(factory, chat) == (ASSIGNED, first.id, RoutingReason.FIRST_REQUEST)
    assert factory.request(chat.id).set_primary
    second = await online(deps, factory)

    clock.advance(ACCEPT + 1)
    assert await take_back_unaccepted(deps) == 1
    assert held_by(factory, chat) == (ASSIGNED, second.id, RoutingReason.FIRST_REQUEST)
    assert factory.client(kim.id).primary_counsellor_id == second.id
    assert history(factory, kim) == [
        (None, first.id, AssignmentSource.AUTOMATIC),
        (first.id, second.id, AssignmentSource.AUTOMATIC),
    ]
    changes = [e.change for e in factory.published if isinstance(e, PrimaryCounsellorChanged)]
    assert (changes[-1].previous_counsellor_id, changes[-1].new_counsellor_id) == (first.id, second.id)

    # And again: the next one after that becomes primary.
    third = await online(deps, factory)
    clock.advance(ACCEPT + 1)
    assert await take_back_unaccepted(deps) == 1
    assert held_by(factory, chat) == (ASSIGNED, third.id, RoutingReason.FIRST_REQUEST)
    assert [h[1] for h in history(factory, kim)] == [first.id, second.id, third.id]


async def test_provisional_primary_with_nobody_else_free_queues_and_the_next_free_becomes_primary(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    settings(factory, accept_timeout_seconds=ACCEPT)
    first = await online(deps, factory)
    kim = factory.seed_client()
    chat = await submit(deps, kim)
    clock.advance(ACCEPT + 1)
    assert await take_back_unaccepted(deps) == 1
    assert factory.request(chat.id).status is QUEUED
    await deps.dispatch()
    assert factory.request(chat.id).status is QUEUED  # the first is free again, but not for this one
    second = await online(deps, factory)
    assert held_by(factory, chat) == (ASSIGNED, second.id, RoutingReason.FIRST_REQUEST)
    assert history(factory, kim) == [
        (None, first.id, AssignmentSource.AUTOMATIC),
        (first.id, second.id, AssignmentSource.AUTOMATIC),
    ]


async def test_taken_back_chat_does_not_wait_for_the_primary_a_second_time(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    """docs/routing.md: a wait is started once per request."""
    primary, colleague, _, held, waiting = await _waiting_for_busy_primary(deps, factory)
    await accept_request(deps, staff(primary), held.id)  # the primary stays busy with it
    settings(factory, primary_chat_wait_seconds=WAIT, accept_timeout_seconds=ACCEPT)
    clock.advance(WAIT + 1)
    await deps.dispatch()
    assert held_by(factory, waiting) == (ASSIGNED, colleague.id, RoutingReason.PRIMARY_UNAVAILABLE)
    third = await online(deps, factory)

    clock.advance(ACCEPT + 1)  # the colleague does not accept; the primary is still busy
    assert await take_back_unaccepted(deps) == 1
    stored = factory.request(waiting.id)
    assert (stored.status, stored.counsellor_id) == (ASSIGNED, third.id), trace(factory, waiting)
    assert len([s for s in stored.trace if s.outcome == "WAITING_FOR_PRIMARY"]) == 1


# --- onlyOwnClients ----------------------------------------------------------------------------


async def test_own_clients_only_counsellor_takes_only_their_own_clients(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    own = await online(deps, factory, only_own_clients=True, chat_capacity=3)
    other_primary = factory.seed_counsellor()  # OFFLINE
    mine = factory.seed_client(primary_counsellor_id=own.id)
    nobodys = factory.seed_client()
    someone_elses = factory.seed_client(primary_counsellor_id=other_primary.id)

    assert held_by(factory, await submit(deps, mine)) == (ASSIGNED, own.id, RoutingReason.PRIMARY_COUNSELLOR)
    first = await submit(deps, nobodys)
    handed = await submit(deps, someone_elses)
    assert (factory.request(first.id).status, factory.request(handed.id).status) == (QUEUED, QUEUED)

    await update_counsellor(deps, ADMIN, CounsellorUpdate(own.id, only_own_clients=False))
    assert held_by(factory, first) == (ASSIGNED, own.id, RoutingReason.FIRST_REQUEST)
    assert held_by(factory, handed) == (ASSIGNED, own.id, RoutingReason.PRIMARY_UNAVAILABLE)


# --- deactivation and absence end waits for the counsellor -----------------------------------------


async def _deactivate(deps: Deps, counsellor: Counsellor, how: str) -> None:
    if how == "inactive":
        await update_counsellor(deps, ADMIN, CounsellorUpdate(counsellor.id, active=False))
    else:
        await set_absence(deps, ADMIN, True, "Im Urlaub", counsellor.id)


@pytest.mark.parametrize("how", ["inactive", "absent"])
async def test_deactivated_primary_releases_the_waiting_chat_to_a_free_colleague(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock, how: str
) -> None:
    primary, colleague, kim, held, waiting = await _waiting_for_busy_primary(deps, factory)
    clock.advance(5)
    await _deactivate(deps, primary, how)
    assert held_by(factory, waiting) == (ASSIGNED, colleague.id, RoutingReason.PRIMARY_UNAVAILABLE)
    assert trace(factory, waiting)[-2:] == [
        ("PRIMARY_SKIPPED", primary.id, how),
        ("CANDIDATE_CHOSEN", colleague.id, "holds 0 chat requests, never assigned; 1 free"),
    ]
    # Their assigned chat and the primary relation stay.
    assert held_by(factory, held)[:2] == (ASSIGNED, primary.id)
    assert factory.client(kim.id).primary_counsellor_id == primary.id


@pytest.mark.parametrize("how", ["inactive", "absent"])
async def test_deactivated_primary_ends_the_wait_the_chat_joins_the_general_queue(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock, how: str
) -> None:
    """docs/routing.md: deactivating moves chats that were waiting for them to others; with nobody
    free they join the general queue (RequestRepository.stop_waiting_for)."""
    primary, colleague, _, _, waiting = await _waiting_for_busy_primary(deps, factory, colleague_online=False)
    younger = await submit(deps, factory.seed_client())  # nobody free: the general queue
    assert await position(deps, factory, waiting) == 1  # first for the primary
    assert await position(deps, factory, younger) == 1  # first of the general queue

    clock.advance(5)
    await _deactivate(deps, primary, how)
    stored = factory.request(waiting.id)
    assert stored.status is QUEUED
    assert stored.waiting_for_id is None, "the wait for a deactivated or absent primary did not end"
    assert await position(deps, factory, younger) == 2  # the older chat is ahead of it now

    await set_online_status(deps, staff(colleague), OnlineStatus.ONLINE, None)
    assert held_by(factory, waiting) == (ASSIGNED, colleague.id, RoutingReason.PRIMARY_UNAVAILABLE)
    assert factory.request(younger.id).status is QUEUED


async def position(deps: Deps, factory: FakeUnitOfWorkFactory, request: Request) -> int | None:
    status = await queue_status(deps, factory.request(request.id))
    return None if status is None else status.position


# --- reassigning clients; clients whose primary is inactive --------------------------------------


async def test_reassign_clients_moves_all_with_one_history_entry_each(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    leaving, taking, bystander = (
        factory.seed_counsellor(),
        factory.seed_counsellor(),
        factory.seed_counsellor(),
    )
    moving = [factory.seed_client(primary_counsellor_id=leaving.id) for _ in range(3)]
    staying = factory.seed_client(primary_counsellor_id=bystander.id)
    await update_counsellor(deps, ADMIN, CounsellorUpdate(leaving.id, active=False))

    page = await client_page_unchecked(deps, ADMIN, ClientQuery(primary_inactive=True), 10, None)
    assert [c.id for _, c in page.items] == [c.id for c in moving]
    others = await client_page_unchecked(deps, ADMIN, ClientQuery(primary_inactive=False), 10, None)
    assert [c.id for _, c in others.items] == [staying.id]

    moved = await reassign_clients(deps, ADMIN, leaving.id, taking.id, "Ausgeschieden")
    assert moved == 3
    for client in moving:
        assert factory.client(client.id).primary_counsellor_id == taking.id
        entries = [h for h in factory.store.history if h.client_id == client.id]
        assert [
            (h.previous_counsellor_id, h.new_counsellor_id, h.source, h.changed_by_id, h.reason)
            for h in entries
        ] == [(leaving.id, taking.id, AssignmentSource.MANUAL, ADMIN.counsellor_id, "Ausgeschieden")]
        assert entries[0].changed_at == clock.now()
    assert factory.client(staying.id).primary_counsellor_id == bystander.id
    assert len(factory.store.history) == 3
    assert (
        await client_page_unchecked(deps, ADMIN, ClientQuery(primary_inactive=True), 10, None)
    ).items == []
    assert await reassign_clients(deps, ADMIN, leaving.id, taking.id, None) == 0


async def test_reassigned_clients_queued_chats_follow_the_new_primary(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    leaving = factory.seed_counsellor()
    kim = factory.seed_client(primary_counsellor_id=leaving.id)
    queued = await submit(deps, kim)
    taking = await online(deps, factory, only_own_clients=True)
    assert factory.request(queued.id).status is QUEUED
    await reassign_clients(deps, ADMIN, leaving.id, taking.id, None)
    assert held_by(factory, queued) == (ASSIGNED, taking.id, RoutingReason.PRIMARY_COUNSELLOR)


async def test_reassign_clients_refuses_bad_input_and_non_admins(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    leaving, taking = factory.seed_counsellor(), factory.seed_counsellor()
    gone = factory.seed_counsellor(active=False)
    factory.seed_client(primary_counsellor_id=leaving.id)
    with pytest.raises(Forbidden):
        await reassign_clients(deps, staff(leaving), leaving.id, taking.id, None)
    with pytest.raises(BadUserInput) as same:
        await reassign_clients(deps, ADMIN, leaving.id, leaving.id, None)
    assert same.value.field == "input.toCounsellorId"
    with pytest.raises(BadUserInput) as inactive:
        await reassign_clients(deps, ADMIN, leaving.id, gone.id, None)
    assert inactive.value.field == "input.toCounsellorId"
    assert factory.store.history == []


# --- queue position and estimate --------------------------------------------------------------


async def test_queue_position_counts_the_same_channel_oldest_first(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    chats = []
    for _ in range(3):
        chats.append(await submit(deps, factory.seed_client()))
        clock.advance(1)
    mail = await submit(deps, factory.seed_client(), MAIL)
    statuses = [await queue_status(deps, factory.request(c.id)) for c in chats]
    # Nothing was assigned recently: no estimate.
    assert statuses == [QueueStatus(1, None), QueueStatus(2, None), QueueStatus(3, None)]
    assert await queue_status(deps, factory.request(mail.id)) == QueueStatus(1, None)

    await cancel_request(deps, ADMIN, chats[0].id)
    assert await queue_status(deps, factory.request(chats[0].id)) is None
    assert [await position(deps, factory, c) for c in chats[1:]] == [1, 2]


async def test_waiting_chats_have_their_own_queue_per_primary(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    primary, _, kim, _, waiting = await _waiting_for_busy_primary(deps, factory, colleague_online=False)
    clock.advance(1)
    waiting_too = await submit(deps, kim)
    general = await submit(deps, factory.seed_client())
    assert factory.request(waiting_too.id).waiting_for_id == primary.id
    assert [await position(deps, factory, r) for r in (waiting, waiting_too, general)] == [1, 2, 1]
    # One assignment (the held chat) in the last 30 minutes: one every 1800 s.
    assert await queue_status(deps, factory.request(waiting_too.id)) == QueueStatus(2, 3600)

    clock.advance(WAIT)  # both waits ended: they join the general queue, oldest first
    assert [await position(deps, factory, r) for r in (waiting, waiting_too, general)] == [1, 2, 3]


async def test_estimate_extrapolates_the_assignments_of_the_last_30_minutes(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    anna = await online(deps, factory)
    for _ in range(6):  # six chats assigned and closed within ten minutes
        chat = await submit(deps, factory.seed_client())
        await close_request(deps, staff(anna), chat.id)
        clock.advance(100)
    await set_online_status(deps, staff(anna), OnlineStatus.OFFLINE, None)
    first, second = await submit(deps, factory.seed_client()), await submit(deps, factory.seed_client())
    # 6 per 1800 s: one every 300 s.
    assert await queue_status(deps, factory.request(first.id)) == QueueStatus(1, 300)
    assert await queue_status(deps, factory.request(second.id)) == QueueStatus(2, 600)
    assert await queue_status(deps, factory.request(chat.id)) is None  # not queued

    clock.advance(30 * 60 - 400)  # the two oldest assignments left the window: 4 per 1800 s
    assert await queue_status(deps, factory.request(first.id)) == QueueStatus(1, 450)
    clock.advance(3600)
    assert await queue_status(deps, factory.request(first.id)) == QueueStatus(1, None)


async def test_availability_shows_the_clients_oldest_queued_request(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    kim = factory.seed_client()
    first = await submit(deps, kim)
    clock.advance(1)
    await submit(deps, kim, MAIL)
    view = await availability(deps, as_client(kim))
    assert view.queued is not None and view.queued.id == first.id
    assert view.queue == QueueStatus(1, None)
    assert (view.chat_available, view.mail_available, view.primary) == (False, False, None)
    assert (await availability(deps, Viewer(role=None))).queued is None


# --- the routing settings ------------------------------------------------------------------------


async def test_settings_accept_the_documented_minimum_of_one_second(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    """docs/routing.md: presenceTimeoutSeconds and acceptTimeoutSeconds are 'at least 1'."""
    updated = await update_settings(
        deps, ADMIN, SettingsUpdate(presence_timeout_seconds=2, accept_timeout_seconds=1)
    )
    assert (updated.presence_timeout_seconds, updated.accept_timeout_seconds) == (2, 1)
    with pytest.raises(BadUserInput):
        await update_settings(deps, ADMIN, SettingsUpdate(presence_timeout_seconds=0))


async def test_settings_update_leaves_unnamed_settings_alone(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    fallback = factory.seed_counsellor()
    settings(
        factory, fallback_counsellor_id=fallback.id, accept_timeout_seconds=60, presence_timeout_seconds=90
    )
    updated = await update_settings(deps, ADMIN, SettingsUpdate(primary_chat_wait_seconds=20))
    assert updated.primary_chat_wait_seconds == 20
    assert (
        updated.fallback_counsellor_id,
        updated.accept_timeout_seconds,
        updated.presence_timeout_seconds,
    ) == (
        fallback.id,
        60,
        90,
    )
    assert factory.store.settings == updated


async def test_settings_are_for_admins(deps: Deps, factory: FakeUnitOfWorkFactory) -> None:
    anna = factory.seed_counsellor()
    with pytest.raises(Forbidden):
        await update_settings(deps, staff(anna), SettingsUpdate(primary_chat_wait_seconds=20))

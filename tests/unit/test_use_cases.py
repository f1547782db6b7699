"""Use cases over the in-memory fakes: routing on submit, queue dispatch, close, cancel, idempotency."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from domain.errors import Conflict, Forbidden, NotFound
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
    Viewer,
)
from domain.use_cases import Deps
from domain.use_cases.counsellors import set_fallback_counsellor, set_mail_availability, set_online_status
from domain.use_cases.requests import cancel_request, close_request, submit_request
from domain.use_cases.routing import dispatch_once, route
from tests.fakes import START, FakeUnitOfWorkFactory, FixedClock

CHAT, MAIL = Channel.CHAT, Channel.MAIL


def online(factory: FakeUnitOfWorkFactory, **overrides: Any) -> Counsellor:
    return factory.seed_counsellor(**({"online_status": OnlineStatus.ONLINE} | overrides))


def as_client(client: Client) -> Viewer:
    return Viewer(role=Role.CLIENT, client_id=client.id)


def as_staff(counsellor: Counsellor) -> Viewer:
    return Viewer(role=Role.COUNSELLOR, counsellor_id=counsellor.id)


ADMIN = Viewer(role=Role.ADMIN, counsellor_id=999)


async def submit(
    deps: Deps, client: Client, channel: Channel = CHAT, message: str = "Hallo", key: str | None = None
) -> Request:
    return await submit_request(deps, as_client(client), channel, message, None, key)


def history(
    factory: FakeUnitOfWorkFactory, client: Client
) -> list[tuple[int | None, int | None, AssignmentSource]]:
    return [
        (h.previous_counsellor_id, h.new_counsellor_id, h.source)
        for h in factory.store.history
        if h.client_id == client.id
    ]


# --- submitRequest routing -------------------------------------------------------------------


async def test_first_chat_makes_the_counsellor_primary_with_one_automatic_history_entry(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    counsellor, client = online(factory), factory.seed_client()
    request = await submit(deps, client)
    assert (request.status, request.counsellor_id) == (RequestStatus.ASSIGNED, counsellor.id)
    assert request.routing_reason is RoutingReason.FIRST_REQUEST
    assert factory.client(client.id).primary_counsellor_id == counsellor.id
    assert history(factory, client) == [(None, counsellor.id, AssignmentSource.AUTOMATIC)]
    stored = factory.counsellor(counsellor.id)
    assert (stored.active_chat_count, stored.last_chat_assigned_at) == (1, clock.now())
    assert factory.request(request.id) == request


async def test_first_request_publishes_assignment_and_primary_change_after_commit(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    counsellor, client = online(factory), factory.seed_client()
    await submit(deps, client)
    kinds = {type(e) for e in factory.published}
    assert kinds == {CounsellorStateChanged, RequestChanged, PrimaryCounsellorChanged}
    change = next(e for e in factory.published if isinstance(e, PrimaryCounsellorChanged))
    assert counsellor.id in change.visible_to


async def test_second_request_goes_to_the_primary_even_when_a_colleague_holds_less(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    primary, client = online(factory, chat_capacity=2), factory.seed_client()
    online(factory)
    await submit(deps, client)
    second = await submit(deps, client)
    assert (second.counsellor_id, second.routing_reason) == (primary.id, RoutingReason.PRIMARY_COUNSELLOR)
    assert len(history(factory, client)) == 1


async def test_busy_primary_hands_chat_to_a_colleague_and_stays_primary(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    primary, client = online(factory), factory.seed_client()
    colleague = online(factory)
    await submit(deps, client)
    second = await submit(deps, client)
    assert (second.counsellor_id, second.routing_reason) == (colleague.id, RoutingReason.PRIMARY_UNAVAILABLE)
    assert factory.client(client.id).primary_counsellor_id == primary.id
    assert history(factory, client) == [(None, primary.id, AssignmentSource.AUTOMATIC)]


async def test_primary_gets_mail_even_with_mail_availability_none(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    primary = factory.seed_counsellor(mail_availability=MailAvailability.NONE)
    factory.seed_counsellor(mail_availability=MailAvailability.UNLIMITED)
    client = factory.seed_client(primary_counsellor_id=primary.id)
    request = await submit(deps, client, MAIL)
    assert (request.counsellor_id, request.routing_reason) == (primary.id, RoutingReason.PRIMARY_COUNSELLOR)
    assert factory.counsellor(primary.id).open_mail_count == 1


async def test_nobody_free_leaves_the_request_queued_without_a_primary(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    factory.seed_counsellor()  # OFFLINE, mail NONE: free for nothing
    client = factory.seed_client()
    request = await submit(deps, client)
    assert (request.status, request.counsellor_id, request.routing_reason) == (
        RequestStatus.QUEUED,
        None,
        None,
    )
    assert factory.request(request.id).status is RequestStatus.QUEUED
    assert factory.client(client.id).primary_counsellor_id is None
    assert history(factory, client) == []


async def test_mail_nobody_free_goes_to_the_fallback_who_does_not_become_primary(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    fallback, client = factory.seed_counsellor(), factory.seed_client()
    await set_fallback_counsellor(deps, ADMIN, fallback.id)
    request = await submit(deps, client, MAIL)
    assert (request.counsellor_id, request.routing_reason) == (fallback.id, RoutingReason.FALLBACK_COUNSELLOR)
    assert factory.client(client.id).primary_counsellor_id is None
    assert factory.counsellor(fallback.id).open_mail_count == 1


# --- dispatch of the queue (rule 5) ----------------------------------------------------------


async def test_counsellor_coming_online_takes_the_queued_chat_and_becomes_primary(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    counsellor, client = factory.seed_counsellor(), factory.seed_client()
    queued = await submit(deps, client)
    await set_online_status(deps, as_staff(counsellor), OnlineStatus.ONLINE, None)
    dispatched = factory.request(queued.id)
    assert (dispatched.status, dispatched.counsellor_id) == (RequestStatus.ASSIGNED, counsellor.id)
    assert dispatched.routing_reason is RoutingReason.FIRST_REQUEST
    assert history(factory, client) == [(None, counsellor.id, AssignmentSource.AUTOMATIC)]
    assert factory.counsellor(counsellor.id).active_chat_count == 1


async def test_closing_frees_the_slot_and_dispatches_the_oldest_queued_chat(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    counsellor = online(factory)
    first, second, third = factory.seed_client(), factory.seed_client(), factory.seed_client()
    held = await submit(deps, first)
    clock.advance(1)
    older = await submit(deps, second)
    clock.advance(1)
    younger = await submit(deps, third)
    closed = await close_request(deps, as_staff(counsellor), held.id)
    assert closed.status is RequestStatus.CLOSED
    assert factory.request(held.id).closed_at is not None
    assert factory.request(older.id).counsellor_id == counsellor.id
    assert factory.request(younger.id).status is RequestStatus.QUEUED
    assert factory.counsellor(counsellor.id).active_chat_count == 1


async def test_closing_with_an_empty_queue_frees_the_slot(deps: Deps, factory: FakeUnitOfWorkFactory) -> None:
    counsellor, client = online(factory), factory.seed_client()
    request = await submit(deps, client)
    await close_request(deps, as_staff(counsellor), request.id)
    assert factory.counsellor(counsellor.id).active_chat_count == 0


async def test_unlimited_mail_counsellor_drains_the_mail_queue(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    counsellor = factory.seed_counsellor()
    queued = [await submit(deps, factory.seed_client(), MAIL) for _ in range(3)]
    await set_mail_availability(deps, as_staff(counsellor), MailAvailability.UNLIMITED, None, None)
    assert {factory.request(r.id).counsellor_id for r in queued} == {counsellor.id}
    assert factory.counsellor(counsellor.id).open_mail_count == 3


async def test_queued_request_nobody_may_take_does_not_block_younger_ones(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    own_only = factory.seed_counsellor(only_own_clients=True)
    stranger, own = factory.seed_client(), factory.seed_client(primary_counsellor_id=own_only.id)
    blocked = await submit(deps, stranger)
    clock.advance(1)
    takeable = await submit(deps, own)
    await set_online_status(deps, as_staff(own_only), OnlineStatus.ONLINE, None)
    assert factory.request(blocked.id).status is RequestStatus.QUEUED
    assert factory.request(takeable.id).routing_reason is RoutingReason.PRIMARY_COUNSELLOR


async def test_queued_chat_waits_for_the_busy_primary_then_goes_to_a_colleague(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    factory.store.settings.primary_chat_wait_seconds = 60
    primary, colleague = online(factory, active_chat_count=1), online(factory)
    client = factory.seed_client(primary_counsellor_id=primary.id)
    request = await submit(deps, client)
    assert (request.status, request.waiting_for_id) == (RequestStatus.QUEUED, primary.id)
    assert factory.request(request.id).wait_until == request.wait_until
    assert await dispatch_once(deps) == 0
    clock.advance(60)
    assert await dispatch_once(deps) == 1
    routed = factory.request(request.id)
    assert (routed.counsellor_id, routed.routing_reason) == (colleague.id, RoutingReason.PRIMARY_UNAVAILABLE)
    assert (routed.waiting_for_id, routed.wait_until) == (None, None)


async def test_queued_chat_follows_a_new_primary_and_waits_for_them_when_dispatched(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    factory.store.settings.primary_chat_wait_seconds = 60
    mail_only = factory.seed_counsellor(mail_availability=MailAvailability.UNLIMITED)
    latecomer, client = factory.seed_counsellor(), factory.seed_client()
    chat = await submit(deps, client)  # nobody chat-free: queued, no primary yet
    await submit(deps, client, MAIL)  # makes the offline mail counsellor primary
    await set_online_status(deps, as_staff(latecomer), OnlineStatus.ONLINE, None)
    waiting = factory.request(chat.id)
    assert (waiting.status, waiting.waiting_for_id) == (RequestStatus.QUEUED, mail_only.id)
    assert waiting.wait_until == clock.now() + timedelta(seconds=60)
    clock.advance(60)
    await deps.dispatch()
    routed = factory.request(chat.id)
    assert (routed.counsellor_id, routed.routing_reason) == (latecomer.id, RoutingReason.PRIMARY_UNAVAILABLE)
    assert factory.client(client.id).primary_counsellor_id == mail_only.id


async def test_claim_lost_to_another_router_is_retried_with_fresh_candidates(
    factory: FakeUnitOfWorkFactory, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, client = online(factory), online(factory), factory.seed_client()
    async with factory() as uow:
        real_claim = uow.counsellors.claim

        async def rival_claims_first(
            counsellor_id: int, channel: Channel, now: datetime, checked: bool
        ) -> None:
            await real_claim(counsellor_id, channel, now, checked=False)  # the rival takes the slot
            monkeypatch.setattr(uow.counsellors, "claim", real_claim)

        monkeypatch.setattr(uow.counsellors, "claim", rival_claims_first)
        request = await uow.requests.add(
            Request(0, client.id, CHAT, RequestStatus.QUEUED, "Hallo", clock.now())
        )
        await route(uow, request, factory.client(client.id), clock.now())
        await uow.commit()
    assert (request.counsellor_id, request.routing_reason) == (second.id, RoutingReason.FIRST_REQUEST)
    assert factory.client(client.id).primary_counsellor_id == second.id
    assert factory.counsellor(first.id).active_chat_count == 1  # the rival's chat


# --- idempotency -----------------------------------------------------------------------------


async def test_same_idempotency_key_and_content_returns_the_first_request(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    counsellor, client = online(factory, chat_capacity=5), factory.seed_client()
    first = await submit(deps, client, key="k-1")
    again = await submit(deps, client, key="k-1")
    assert again.id == first.id
    assert len(factory.store.requests) == 1
    assert factory.counsellor(counsellor.id).active_chat_count == 1


@pytest.mark.parametrize(
    ("channel", "message"), [(CHAT, "Something else"), (MAIL, "Hallo")], ids=["message", "channel"]
)
async def test_same_idempotency_key_with_other_content_is_a_conflict(
    deps: Deps, factory: FakeUnitOfWorkFactory, channel: Channel, message: str
) -> None:
    online(factory, chat_capacity=5)
    client = factory.seed_client()
    await submit(deps, client, key="k-1")
    published = len(factory.published)
    with pytest.raises(Conflict) as raised:
        await submit(deps, client, channel, message, key="k-1")
    assert raised.value.field == "input.idempotencyKey"
    assert len(factory.store.requests) == 1
    assert len(factory.published) == published


async def test_idempotency_keys_of_different_clients_never_collide(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    online(factory, chat_capacity=5)
    mine = await submit(deps, factory.seed_client(), key="same")
    theirs = await submit(deps, factory.seed_client(), key="same")
    assert mine.id != theirs.id


# --- close and cancel ------------------------------------------------------------------------


async def test_client_cancelling_an_assigned_request_is_a_conflict(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    counsellor, client = online(factory), factory.seed_client()
    request = await submit(deps, client)
    with pytest.raises(Conflict):
        await cancel_request(deps, as_client(client), request.id)
    assert factory.request(request.id).status is RequestStatus.ASSIGNED
    assert factory.counsellor(counsellor.id).active_chat_count == 1


async def test_client_cancels_their_queued_request(deps: Deps, factory: FakeUnitOfWorkFactory) -> None:
    client = factory.seed_client()
    request = await submit(deps, client)
    cancelled = await cancel_request(deps, as_client(client), request.id)
    assert cancelled.status is RequestStatus.CANCELLED
    assert factory.request(request.id).status is RequestStatus.CANCELLED


async def test_staff_cancelling_an_assigned_request_frees_the_slot(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    counsellor, client = online(factory), factory.seed_client()
    request = await submit(deps, client)
    await cancel_request(deps, as_staff(counsellor), request.id)
    assert factory.request(request.id).status is RequestStatus.CANCELLED
    assert factory.counsellor(counsellor.id).active_chat_count == 0


async def test_closing_a_queued_or_closed_request_is_a_conflict(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    counsellor, client = online(factory), factory.seed_client()
    assigned = await submit(deps, client)
    await close_request(deps, ADMIN, assigned.id)
    with pytest.raises(Conflict):
        await close_request(deps, ADMIN, assigned.id)
    await set_online_status(deps, as_staff(counsellor), OnlineStatus.OFFLINE, None)
    queued = await submit(deps, client)
    with pytest.raises(Conflict):
        await close_request(deps, ADMIN, queued.id)


async def test_primary_who_does_not_hold_the_request_may_not_close_it(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    primary, client = online(factory), factory.seed_client()
    online(factory)
    await submit(deps, client)
    elsewhere = await submit(deps, client)  # primary busy: held by the colleague
    with pytest.raises(Forbidden):
        await close_request(deps, as_staff(primary), elsewhere.id)
    assert factory.request(elsewhere.id).status is RequestStatus.ASSIGNED


async def test_counsellor_who_cannot_see_the_request_gets_not_found_on_close(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    online(factory)
    stranger = factory.seed_counsellor()
    request = await submit(deps, factory.seed_client())
    with pytest.raises(NotFound):
        await close_request(deps, as_staff(stranger), request.id)


# --- the fakes themselves --------------------------------------------------------------------


async def test_unit_of_work_without_commit_changes_nothing_and_publishes_nothing(
    factory: FakeUnitOfWorkFactory,
) -> None:
    counsellor, client = online(factory), factory.seed_client()
    async with factory() as uow:
        assert await uow.clients.set_primary(client.id, counsellor.id, expected=None)
        assert await uow.counsellors.claim(counsellor.id, CHAT, START, checked=True) is not None
        uow.record(CounsellorStateChanged(counsellor))
    assert factory.client(client.id).primary_counsellor_id is None
    assert factory.counsellor(counsellor.id).active_chat_count == 0
    assert factory.published == []


async def test_checked_claim_fails_when_not_free_and_unchecked_claim_goes_over_capacity(
    factory: FakeUnitOfWorkFactory,
) -> None:
    counsellor = online(factory, active_chat_count=1)
    async with factory() as uow:
        assert await uow.counsellors.claim(counsellor.id, CHAT, START, checked=True) is None
        claimed = await uow.counsellors.claim(counsellor.id, CHAT, START, checked=False)
        assert claimed is not None and claimed.active_chat_count == 2
        await uow.commit()
    assert factory.counsellor(counsellor.id).active_chat_count == 2

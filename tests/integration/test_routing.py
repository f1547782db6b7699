"""Every routing rule of routing.md, through the use cases, against the real database of each backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import insert

from domain.errors import BadUserInput, Conflict, Forbidden, NotFound
from domain.model import (
    AssignmentSource,
    Channel,
    Counsellor,
    MailAvailability,
    OnlineStatus,
    Request,
    RequestStatus,
    RoutingReason,
    StaffRole,
    Viewer,
)
from domain.use_cases.clients import ClientProfile, change_primary_counsellor, create_client
from domain.use_cases.counsellors import (
    CounsellorUpdate,
    NewCounsellor,
    create_counsellor,
    set_absence,
    set_chat_capacity,
    set_fallback_counsellor,
    set_mail_availability,
    set_online_status,
    update_counsellor,
)
from domain.use_cases.requests import assign_request, cancel_request, close_request
from domain.use_cases.routing import DISPATCH_BATCH
from persistence.tables import requests as requests_table
from tests.integration.conftest import CHAT, MAIL, PASSWORD, World, client_id, load_check, staff

ASSIGNED, QUEUED = RequestStatus.ASSIGNED, RequestStatus.QUEUED
NONE, UNLIMITED, BY_FREE = (
    MailAvailability.NONE,
    MailAvailability.UNLIMITED,
    MailAvailability.BY_FREE_RESOURCES,
)
BOTH_CHANNELS = pytest.mark.parametrize("channel", [CHAT, MAIL], ids=["chat", "mail"])


def assigned_to(request: Request, counsellor: Counsellor, reason: RoutingReason) -> None:
    assert (request.status, request.counsellor_id, request.routing_reason) == (
        ASSIGNED,
        counsellor.id,
        reason,
    )


async def assert_loads_agree(world: World) -> None:
    """Stored loads are the number of ASSIGNED requests each counsellor holds."""
    for counsellor_id, (chat, chats, _, mail, mails, _) in (await load_check(world.engines)).items():
        assert (chat, mail) == (chats, mails), f"counsellor {counsellor_id}"


async def first_request_to(world: World, client: Viewer, counsellor: Counsellor, channel: Channel) -> Request:
    """Route a first request of `client` to `counsellor` (who must be the only free one)."""
    request = await world.submit(client, channel)
    assigned_to(request, counsellor, RoutingReason.FIRST_REQUEST)
    return request


# --- Rule 2: the first request -------------------------------------------------------------------


async def test_new_counsellors_start_offline_with_one_chat_slot_and_no_mail(world: World) -> None:
    fresh = await world.counsellor("Anna", online=False)
    assert (fresh.online_status, fresh.chat_capacity, fresh.mail_availability) == (
        OnlineStatus.OFFLINE,
        1,
        NONE,
    )
    assert (fresh.mail_resources, fresh.absent, fresh.only_own_clients) == (0, False, False)
    kim = await world.client()
    assert (await world.submit(kim, CHAT)).status is QUEUED
    assert (await world.submit(kim, MAIL)).status is QUEUED


async def test_first_chat_goes_to_a_chat_free_counsellor_who_becomes_primary_with_one_automatic_entry(
    world: World,
) -> None:
    await world.counsellor("Offline", online=False, chat=5)
    full = await world.counsellor("Full", chat=0)
    away = await world.counsellor("Away", online=False)
    await set_online_status(world.deps, world.admin, OnlineStatus.AWAY, away.id)
    bert = await world.counsellor("Bert")
    kim = await world.client()

    request = await world.submit(kim, CHAT)

    assigned_to(request, bert, RoutingReason.FIRST_REQUEST)
    stored = await world.request(request.id)
    assigned_to(stored, bert, RoutingReason.FIRST_REQUEST)
    assert stored.assigned_at == world.clock.now()
    assert await world.primary_of(kim) == bert.id
    [entry] = await world.history(kim)
    assert (entry.previous_counsellor_id, entry.new_counsellor_id, entry.source) == (
        None,
        bert.id,
        AssignmentSource.AUTOMATIC,
    )
    assert (entry.changed_by_id, entry.reason, entry.changed_at) == (None, None, world.clock.now())
    after = await world.state(bert.id)
    assert (after.active_chat_count, after.last_chat_assigned_at) == (1, world.clock.now())
    assert (await world.state(full.id)).active_chat_count == 0


async def test_first_mail_goes_by_mail_resources_and_needs_no_online_status(world: World) -> None:
    await world.counsellor("Online without mail", mail=NONE)
    await world.counsellor("No resources", online=False, mail=BY_FREE, resources=0)
    mira = await world.counsellor("Mira", online=False, mail=BY_FREE, resources=1)
    kim = await world.client()

    request = await first_request_to(world, kim, mira, MAIL)

    assert await world.primary_of(kim) == mira.id
    assert [h.source for h in await world.history(kim)] == [AssignmentSource.AUTOMATIC]
    stored = await world.state(mira.id)
    assert (stored.open_mail_count, stored.active_chat_count) == (1, 0)
    assert stored.last_mail_assigned_at == request.assigned_at
    # Mira's only resource is used up: the next client's mail is queued.
    assert (await world.submit(await world.client("Lou"), MAIL)).status is QUEUED


async def test_unlimited_mail_counsellor_takes_mail_while_offline(world: World) -> None:
    ulla = await world.counsellor("Ulla", online=False, mail=UNLIMITED)
    for name in ("Kim", "Lou", "Max"):
        await first_request_to(world, await world.client(name), ulla, MAIL)
    assert (await world.state(ulla.id)).open_mail_count == 3


async def test_admins_counsel_too(world: World) -> None:
    assert world.admin_account is not None
    await set_online_status(world.deps, world.admin, OnlineStatus.ONLINE, None)
    kim = await world.client()
    request = await first_request_to(world, kim, world.admin_account, CHAT)
    assert request.counsellor_id == world.admin_account.id
    assert await world.primary_of(kim) == world.admin_account.id


# --- Rule 1: the primary counsellor --------------------------------------------------------------


async def test_second_chat_goes_to_the_free_primary_even_when_a_colleague_holds_less(world: World) -> None:
    anna = await world.counsellor("Anna", chat=3)
    kim = await world.client()
    await first_request_to(world, kim, anna, CHAT)
    bert = await world.counsellor("Bert", chat=3)

    second = await world.submit(kim, CHAT)

    assigned_to(second, anna, RoutingReason.PRIMARY_COUNSELLOR)
    assert (await world.state(anna.id)).active_chat_count == 2
    assert (await world.state(bert.id)).active_chat_count == 0
    assert len(await world.history(kim)) == 1


@pytest.mark.parametrize("mode", [NONE, BY_FREE], ids=["mail-none", "resources-used-up"])
async def test_mail_goes_to_the_eligible_primary_whatever_their_capacity(
    world: World, mode: MailAvailability
) -> None:
    mira = await world.counsellor("Mira", online=False, mail=BY_FREE, resources=1)
    kim = await world.client()
    await first_request_to(world, kim, mira, MAIL)
    if mode is NONE:
        await set_mail_availability(world.deps, world.admin, NONE, None, mira.id)
    ulla = await world.counsellor("Ulla", online=False, mail=UNLIMITED)

    second = await world.submit(kim, MAIL)

    assigned_to(second, mira, RoutingReason.PRIMARY_COUNSELLOR)
    stored = await world.state(mira.id)
    assert (stored.open_mail_count, stored.mail_resources) == (2, 1)
    assert (await world.state(ulla.id)).open_mail_count == 0
    await assert_loads_agree(world)


async def test_busy_primary_hands_chat_to_a_colleague_and_stays_primary(world: World) -> None:
    anna = await world.counsellor("Anna")
    kim = await world.client()
    await first_request_to(world, kim, anna, CHAT)
    bert = await world.counsellor("Bert")

    second = await world.submit(kim, CHAT)

    assigned_to(second, bert, RoutingReason.PRIMARY_UNAVAILABLE)
    assert await world.primary_of(kim) == anna.id
    assert len(await world.history(kim)) == 1


@pytest.mark.parametrize("status", [OnlineStatus.OFFLINE, OnlineStatus.AWAY])
async def test_offline_or_away_primary_hands_chat_to_a_colleague(world: World, status: OnlineStatus) -> None:
    anna = await world.counsellor("Anna", chat=3)
    kim = await world.client()
    await first_request_to(world, kim, anna, CHAT)
    await set_online_status(world.deps, staff(anna), status, None)
    bert = await world.counsellor("Bert")

    assigned_to(await world.submit(kim, CHAT), bert, RoutingReason.PRIMARY_UNAVAILABLE)
    assert await world.primary_of(kim) == anna.id


async def _make_unavailable(world: World, counsellor: Counsellor, how: str) -> None:
    if how == "absent":
        await set_absence(world.deps, world.admin, True, "Bis Montag", counsellor.id)
    else:
        await update_counsellor(world.deps, world.admin, CounsellorUpdate(counsellor.id, active=False))


@BOTH_CHANNELS
@pytest.mark.parametrize("how", ["absent", "inactive"])
async def test_absent_or_inactive_primary_is_skipped_but_stays_primary(
    world: World, channel: Channel, how: str
) -> None:
    anna = await world.counsellor("Anna", chat=5, mail=UNLIMITED)
    kim = await world.client()
    await first_request_to(world, kim, anna, channel)
    await _make_unavailable(world, anna, how)
    bert = await world.counsellor("Bert", mail=UNLIMITED)

    second = await world.submit(kim, channel)

    assigned_to(second, bert, RoutingReason.PRIMARY_UNAVAILABLE)
    assert await world.primary_of(kim) == anna.id
    assert len(await world.history(kim)) == 1
    assert (await world.state(anna.id)).load(channel) == 1


@BOTH_CHANNELS
async def test_absent_primary_and_nobody_else_free_queues_the_request(world: World, channel: Channel) -> None:
    anna = await world.counsellor("Anna", chat=5, mail=UNLIMITED)
    kim = await world.client()
    await first_request_to(world, kim, anna, channel)
    await _make_unavailable(world, anna, "absent")

    second = await world.submit(kim, channel)

    assert (second.status, second.counsellor_id, second.routing_reason) == (QUEUED, None, None)
    assert (await world.request(second.id)).status is QUEUED
    assert await world.primary_of(kim) == anna.id


async def test_primary_with_only_own_clients_still_takes_their_clients_requests(world: World) -> None:
    anna = await world.counsellor("Anna", chat=2, only_own=True)
    own = await create_client(world.deps, staff(anna), ClientProfile(display_name="Kim"), None)
    stranger = await world.client("Lou")
    # Anna is free only for her own client: a stranger's first chat waits.
    assert (await world.submit(stranger, CHAT)).status is QUEUED
    assigned_to(
        await world.submit(Viewer(role=stranger.role, client_id=own.id), CHAT),
        anna,
        RoutingReason.PRIMARY_COUNSELLOR,
    )


# --- Rule 4: nobody free, the fallback counsellor -------------------------------------------------


@BOTH_CHANNELS
async def test_nobody_free_queues_the_request_without_a_primary(world: World, channel: Channel) -> None:
    await world.counsellor("Offline", online=False)
    kim = await world.client()

    request = await world.submit(kim, channel)

    assert (request.status, request.counsellor_id, request.routing_reason) == (QUEUED, None, None)
    stored = await world.request(request.id)
    assert (stored.status, stored.counsellor_id, stored.assigned_at) == (QUEUED, None, None)
    assert await world.primary_of(kim) is None
    assert await world.history(kim) == []


async def test_mail_nobody_free_goes_to_the_fallback_who_never_becomes_primary(world: World) -> None:
    fritz = await world.counsellor("Fritz", online=False, mail=NONE)
    await set_fallback_counsellor(world.deps, world.admin, fritz.id)
    kim = await world.client()

    first = await world.submit(kim, MAIL)

    assigned_to(first, fritz, RoutingReason.FALLBACK_COUNSELLOR)
    assert await world.primary_of(kim) is None
    assert await world.history(kim) == []
    assert (await world.state(fritz.id)).open_mail_count == 1

    # Still nobody free: the fallback takes the next one too, whatever their capacity, and is still no primary.
    assigned_to(await world.submit(kim, MAIL), fritz, RoutingReason.FALLBACK_COUNSELLOR)
    assert (await world.state(fritz.id)).open_mail_count == 2
    assert await world.primary_of(kim) is None

    # Once someone is free, the client's next request tries the automatic assignment again.
    mira = await world.counsellor("Mira", online=False, mail=BY_FREE, resources=3)
    third = await world.submit(kim, MAIL)
    assigned_to(third, mira, RoutingReason.FIRST_REQUEST)
    assert await world.primary_of(kim) == mira.id
    [entry] = await world.history(kim)
    assert (entry.new_counsellor_id, entry.source) == (mira.id, AssignmentSource.AUTOMATIC)


async def test_chat_never_goes_to_the_fallback(world: World) -> None:
    fritz = await world.counsellor("Fritz", chat=5)
    await set_online_status(world.deps, world.admin, OnlineStatus.OFFLINE, fritz.id)
    await set_fallback_counsellor(world.deps, world.admin, fritz.id)
    assert (await world.submit(await world.client(), CHAT)).status is QUEUED


@pytest.mark.parametrize("how", ["only-own-clients", "absent"])
async def test_fallback_limited_to_own_clients_or_absent_is_not_used(world: World, how: str) -> None:
    fritz = await world.counsellor("Fritz", online=False, only_own=how == "only-own-clients")
    if how == "absent":
        await set_absence(world.deps, world.admin, True, None, fritz.id)
    await set_fallback_counsellor(world.deps, world.admin, fritz.id)

    request = await world.submit(await world.client(), MAIL)

    assert request.status is QUEUED
    assert (await world.state(fritz.id)).open_mail_count == 0


async def test_unavailable_primary_and_nobody_free_sends_mail_to_the_fallback_and_keeps_the_primary(
    world: World,
) -> None:
    anna = await world.counsellor("Anna", online=False, mail=UNLIMITED)
    kim = await world.client()
    await first_request_to(world, kim, anna, MAIL)
    await set_absence(world.deps, world.admin, True, None, anna.id)
    fritz = await world.counsellor("Fritz", online=False)
    await set_fallback_counsellor(world.deps, world.admin, fritz.id)

    assigned_to(await world.submit(kim, MAIL), fritz, RoutingReason.FALLBACK_COUNSELLOR)
    assert await world.primary_of(kim) == anna.id
    assert len(await world.history(kim)) == 1


# --- Rule 3: the deterministic choice ------------------------------------------------------------


async def test_choice_is_fewest_held_then_oldest_last_assignment_then_created_first(world: World) -> None:
    anna = await world.counsellor("Anna", chat=3)  # created first
    bert = await world.counsellor("Bert", chat=3)
    carla = await world.counsellor("Carla", chat=3)
    # All empty and never assigned: the one created first.
    held = await world.submit(await world.client("H"), CHAT)
    assigned_to(held, anna, RoutingReason.FIRST_REQUEST)
    # Moved to Bert by hand: Anna holds 0 (assigned before), Bert 1, Carla 0 (never assigned).
    await assign_request(world.deps, world.admin, held.id, bert.id)
    # Anna and Carla hold 0: never assigned counts as oldest.
    assigned_to(await world.submit(await world.client("A"), CHAT), carla, RoutingReason.FIRST_REQUEST)
    # Anna holds fewest.
    assigned_to(await world.submit(await world.client("B"), CHAT), anna, RoutingReason.FIRST_REQUEST)
    # All hold 1: Bert's last assignment (the manual one) is the oldest.
    assigned_to(await world.submit(await world.client("C"), CHAT), bert, RoutingReason.FIRST_REQUEST)
    # Anna 1, Bert 2, Carla 1: Carla's last assignment is older than Anna's.
    assigned_to(await world.submit(await world.client("D"), CHAT), carla, RoutingReason.FIRST_REQUEST)
    assigned_to(await world.submit(await world.client("E"), CHAT), anna, RoutingReason.FIRST_REQUEST)
    await assert_loads_agree(world)


async def test_choice_ties_on_everything_go_to_the_counsellor_created_first(world: World) -> None:
    # Created in the same instant: the order of creation (id) decides.
    a = await world.counsellor("Zora", online=False, mail=UNLIMITED)
    world.clock.advance(-1)
    b = await world.counsellor("Adam", online=False, mail=UNLIMITED)
    assert a.created_at == b.created_at
    assigned_to(await world.submit(await world.client(), MAIL), a, RoutingReason.FIRST_REQUEST)
    assigned_to(await world.submit(await world.client(), MAIL), b, RoutingReason.FIRST_REQUEST)


async def test_mail_choice_counts_mail_load_and_mail_assignment_times_only(world: World) -> None:
    anna = await world.counsellor("Anna", chat=5, mail=UNLIMITED)
    # Anna is loaded with chats: irrelevant for mail.
    for name in ("x", "y"):
        await first_request_to(world, await world.client(name), anna, CHAT)
    bert = await world.counsellor("Bert", chat=5, mail=UNLIMITED)
    assigned_to(await world.submit(await world.client(), MAIL), anna, RoutingReason.FIRST_REQUEST)
    assigned_to(await world.submit(await world.client(), MAIL), bert, RoutingReason.FIRST_REQUEST)
    assigned_to(await world.submit(await world.client(), MAIL), anna, RoutingReason.FIRST_REQUEST)


# --- Rule 5: dispatching the queue -----------------------------------------------------------------


Trigger = Callable[[World, Counsellor], Awaitable[object]]


async def _online(world: World, x: Counsellor) -> object:
    return await set_online_status(world.deps, staff(x), OnlineStatus.ONLINE, None)


async def _absence_ends(world: World, x: Counsellor) -> object:
    return await set_absence(world.deps, staff(x), False, None, None)


async def _activated(world: World, x: Counsellor) -> object:
    return await update_counsellor(world.deps, world.admin, CounsellorUpdate(x.id, active=True))


async def _own_clients_off(world: World, x: Counsellor) -> object:
    return await update_counsellor(world.deps, world.admin, CounsellorUpdate(x.id, only_own_clients=False))


async def _capacity_raised(world: World, x: Counsellor) -> object:
    return await set_chat_capacity(world.deps, staff(x), 1, None)


TRIGGERS: dict[str, tuple[dict[str, object], Trigger]] = {
    "comes-online": ({"online": False}, _online),
    "absence-ends": ({"absent": True}, _absence_ends),
    "activated": ({"active": False}, _activated),
    "only-own-clients-off": ({"only_own": True}, _own_clients_off),
    "capacity-raised": ({"chat": 0}, _capacity_raised),
}


@pytest.mark.parametrize("trigger", list(TRIGGERS), ids=list(TRIGGERS))
async def test_a_counsellor_becoming_chat_free_takes_the_queued_chat(world: World, trigger: str) -> None:
    settings, make_free = TRIGGERS[trigger]
    xena = await world.counsellor("Xena", **settings)  # type: ignore[arg-type]
    kim = await world.client()
    queued = await world.submit(kim, CHAT)
    assert queued.status is QUEUED

    await make_free(world, xena)

    stored = await world.request(queued.id)
    assigned_to(stored, xena, RoutingReason.FIRST_REQUEST)
    assert await world.primary_of(kim) == xena.id
    assert [(h.new_counsellor_id, h.source) for h in await world.history(kim)] == [
        (xena.id, AssignmentSource.AUTOMATIC)
    ]
    assert (await world.state(xena.id)).active_chat_count == 1


async def test_switching_mail_availability_dispatches_queued_mail_up_to_the_resources(world: World) -> None:
    mira = await world.counsellor("Mira", online=False)
    queued = [await world.submit(await world.client(n), MAIL) for n in ("a", "b", "c")]
    assert [r.status for r in queued] == [QUEUED] * 3

    await set_mail_availability(world.deps, staff(mira), BY_FREE, 2, None)

    stored = [await world.request(r.id) for r in queued]
    assert [r.status for r in stored] == [ASSIGNED, ASSIGNED, QUEUED]  # oldest first
    assert (await world.state(mira.id)).open_mail_count == 2

    await set_mail_availability(world.deps, staff(mira), UNLIMITED, None, None)
    assert (await world.request(queued[2].id)).status is ASSIGNED


async def test_an_unlimited_counsellor_drains_the_mail_queue(world: World) -> None:
    queued = [await world.submit(await world.client(f"k{i}"), MAIL) for i in range(5)]
    ulla = await world.counsellor("Ulla", online=False)
    await set_mail_availability(world.deps, staff(ulla), UNLIMITED, None, None)
    for request in queued:
        assigned_to(await world.request(request.id), ulla, RoutingReason.FIRST_REQUEST)
    assert (await world.state(ulla.id)).open_mail_count == 5


async def test_a_counsellor_created_free_for_mail_takes_queued_mail(world: World) -> None:
    queued = await world.submit(await world.client(), MAIL)
    created = await create_counsellor(
        world.deps,
        world.admin,
        NewCounsellor("new@example.org", PASSWORD, "Neu", mail_availability=BY_FREE, mail_resources=1),
    )
    assigned_to(await world.request(queued.id), created, RoutingReason.FIRST_REQUEST)


@pytest.mark.parametrize("how", ["close", "cancel"])
async def test_closing_or_cancelling_frees_the_slot_for_the_oldest_queued_chat(
    world: World, how: str
) -> None:
    xena = await world.counsellor("Xena")
    held = await first_request_to(world, await world.client("a"), xena, CHAT)
    older = await world.submit(await world.client("b"), CHAT)
    younger = await world.submit(await world.client("c"), CHAT)
    assert (older.status, younger.status) == (QUEUED, QUEUED)

    if how == "close":
        done = await close_request(world.deps, staff(xena), held.id)
        assert done.status is RequestStatus.CLOSED
    else:
        done = await cancel_request(world.deps, staff(xena), held.id)
        assert done.status is RequestStatus.CANCELLED
    assert done.closed_at == world.clock.now()

    assigned_to(await world.request(older.id), xena, RoutingReason.FIRST_REQUEST)
    assert (await world.request(younger.id)).status is QUEUED
    assert (await world.state(xena.id)).active_chat_count == 1
    await assert_loads_agree(world)


async def test_setting_a_fallback_counsellor_dispatches_queued_mail(world: World) -> None:
    queued = [await world.submit(await world.client(n), MAIL) for n in ("a", "b")]
    chat_queued = await world.submit(await world.client("c"), CHAT)
    fritz = await world.counsellor("Fritz", online=False)

    await set_fallback_counsellor(world.deps, world.admin, fritz.id)

    for request in queued:
        assigned_to(await world.request(request.id), fritz, RoutingReason.FALLBACK_COUNSELLOR)
        assert await world.primary_of(request.client_id) is None
    assert (await world.request(chat_queued.id)).status is QUEUED


@BOTH_CHANNELS
async def test_a_primary_change_dispatches_the_clients_queued_request_to_the_new_primary(
    world: World, channel: Channel
) -> None:
    # Xena is online but free only for her own clients, and has no mail availability.
    xena = await world.counsellor("Xena", only_own=True)
    kim = await world.client()
    queued = await world.submit(kim, channel)
    assert queued.status is QUEUED

    await change_primary_counsellor(world.deps, world.admin, client_id(kim), xena.id, "Übergabe")

    assigned_to(await world.request(queued.id), xena, RoutingReason.PRIMARY_COUNSELLOR)
    assert [(h.source, h.changed_by_id) for h in await world.history(kim)] == [
        (AssignmentSource.MANUAL, world.admin.counsellor_id)
    ]


async def test_a_queued_request_nobody_may_take_does_not_block_younger_ones(world: World) -> None:
    xena = await world.counsellor("Xena", online=False, only_own=True)
    own = await create_client(world.deps, staff(xena), ClientProfile(display_name="Own"), None)
    stranger = await world.client("Stranger")
    blocked = await world.submit(stranger, CHAT)
    own_viewer = Viewer(role=stranger.role, client_id=own.id)
    younger = await world.submit(own_viewer, CHAT)
    assert (blocked.status, younger.status) == (QUEUED, QUEUED)

    await set_online_status(world.deps, staff(xena), OnlineStatus.ONLINE, None)

    assert (await world.request(blocked.id)).status is QUEUED
    assigned_to(await world.request(younger.id), xena, RoutingReason.PRIMARY_COUNSELLOR)


async def test_a_long_queue_nobody_may_take_does_not_block_a_younger_request(world: World) -> None:
    """More queued requests than one dispatch batch that nobody may take must not hide a deliverable one."""
    xena = await world.counsellor("Xena", online=False, only_own=True)
    own = await create_client(world.deps, staff(xena), ClientProfile(display_name="Own"), None)
    stranger = await world.client("Stranger")
    now = world.clock.now()
    filler = [
        {"client_id": client_id(stranger), "channel": CHAT.value, "status": QUEUED.value, "created_at": now}
        for _ in range(DISPATCH_BATCH + 5)
    ]
    async with world.engines.write.begin() as conn:
        await conn.execute(insert(requests_table), filler)
    own_viewer = Viewer(role=stranger.role, client_id=own.id)
    younger = await world.submit(own_viewer, CHAT)
    assert younger.status is QUEUED

    await set_online_status(world.deps, staff(xena), OnlineStatus.ONLINE, None)

    assigned_to(await world.request(younger.id), xena, RoutingReason.PRIMARY_COUNSELLOR)


async def test_dispatch_gives_a_queued_request_to_the_clients_free_primary_before_anyone_else(
    world: World,
) -> None:
    anna = await world.counsellor("Anna")
    kim = await world.client()
    held = await first_request_to(world, kim, anna, CHAT)
    waiting = await world.submit(kim, CHAT)
    assert waiting.status is QUEUED
    # Bert comes online without a dispatch run (as if the event were lost) ...
    bert = await world.counsellor("Bert", online=False)
    async with world.deps.uow() as uow:
        stored = await uow.counsellors.lock(bert.id)
        assert stored is not None
        stored.online_status = OnlineStatus.ONLINE
        await uow.counsellors.save(stored)
        await uow.commit()
    # ... then Anna closes: both are free, Bert holds less and was never assigned, but Anna is the primary.
    await close_request(world.deps, staff(anna), held.id)

    assigned_to(await world.request(waiting.id), anna, RoutingReason.PRIMARY_COUNSELLOR)


async def test_absent_primary_coming_back_takes_the_queued_mail(world: World) -> None:
    anna = await world.counsellor("Anna", online=False, mail=UNLIMITED)
    kim = await world.client()
    await first_request_to(world, kim, anna, MAIL)
    await set_absence(world.deps, staff(anna), True, "Urlaub", None)
    queued = await world.submit(kim, MAIL)
    assert queued.status is QUEUED

    await set_absence(world.deps, staff(anna), False, None, None)

    assigned_to(await world.request(queued.id), anna, RoutingReason.PRIMARY_COUNSELLOR)


# --- The bounded wait for a primary (chat) ----------------------------------------------------------


async def _busy_primary_with_waiting_chat(
    world: World,
) -> tuple[Counsellor, Counsellor, Viewer, Request, Request]:
    anna = await world.counsellor("Anna")
    kim = await world.client()
    held = await first_request_to(world, kim, anna, CHAT)
    bert = await world.counsellor("Bert")
    await world.set_wait(30)
    waiting = await world.submit(kim, CHAT)
    return anna, bert, kim, held, waiting


async def test_chat_waits_for_the_busy_primary_then_goes_to_a_colleague(world: World) -> None:
    anna, bert, kim, _, waiting = await _busy_primary_with_waiting_chat(world)

    assert waiting.status is QUEUED
    stored = await world.request(waiting.id)
    assert (stored.status, stored.waiting_for_id) == (QUEUED, anna.id)
    assert stored.wait_until == waiting.created_at + timedelta(seconds=30)
    async with world.deps.uow(write=False) as uow:
        assert await uow.requests.next_wait_end(world.clock.now()) == stored.wait_until

    world.clock.advance(29)
    await world.deps.dispatch()
    assert (await world.request(waiting.id)).status is QUEUED  # Bert is free, but the wait runs

    world.clock.advance(2)
    await world.deps.dispatch()
    done = await world.request(waiting.id)
    assigned_to(done, bert, RoutingReason.PRIMARY_UNAVAILABLE)
    assert (done.waiting_for_id, done.wait_until) == (None, None)
    assert await world.primary_of(kim) == anna.id


async def test_primary_freed_during_the_wait_takes_the_chat(world: World) -> None:
    anna, _, _, held, waiting = await _busy_primary_with_waiting_chat(world)
    world.clock.advance(10)
    await close_request(world.deps, staff(anna), held.id)
    assigned_to(await world.request(waiting.id), anna, RoutingReason.PRIMARY_COUNSELLOR)


async def test_offline_primary_is_waited_for_and_takes_the_chat_when_coming_online(world: World) -> None:
    anna = await world.counsellor("Anna", chat=2)
    kim = await world.client()
    await first_request_to(world, kim, anna, CHAT)
    await set_online_status(world.deps, staff(anna), OnlineStatus.OFFLINE, None)
    await world.counsellor("Bert")
    await world.set_wait(30)
    waiting = await world.submit(kim, CHAT)
    assert waiting.status is QUEUED

    world.clock.advance(5)
    await set_online_status(world.deps, staff(anna), OnlineStatus.ONLINE, None)

    assigned_to(await world.request(waiting.id), anna, RoutingReason.PRIMARY_COUNSELLOR)


@pytest.mark.parametrize("how", ["absent", "inactive"])
async def test_absent_or_inactive_primary_is_never_waited_for(world: World, how: str) -> None:
    anna = await world.counsellor("Anna", chat=2)
    kim = await world.client()
    await first_request_to(world, kim, anna, CHAT)
    await _make_unavailable(world, anna, how)
    bert = await world.counsellor("Bert")
    await world.set_wait(30)

    assigned_to(await world.submit(kim, CHAT), bert, RoutingReason.PRIMARY_UNAVAILABLE)


async def test_after_the_wait_with_nobody_free_the_next_free_counsellor_takes_it(world: World) -> None:
    anna = await world.counsellor("Anna")
    kim = await world.client()
    held = await first_request_to(world, kim, anna, CHAT)
    await world.set_wait(30)
    waiting = await world.submit(kim, CHAT)
    world.clock.advance(31)
    await world.deps.dispatch()
    assert (await world.request(waiting.id)).status is QUEUED  # nobody else is free
    # Anna, free again after the wait, still gets her client's chat.
    await close_request(world.deps, staff(anna), held.id)
    assigned_to(await world.request(waiting.id), anna, RoutingReason.PRIMARY_COUNSELLOR)


# --- Manual removal, assignRequest --------------------------------------------------------------


async def test_after_a_manual_removal_of_the_primary_the_next_request_is_a_first_request(
    world: World,
) -> None:
    anna = await world.counsellor("Anna", chat=3)
    kim = await world.client()
    await first_request_to(world, kim, anna, CHAT)
    await change_primary_counsellor(world.deps, world.admin, client_id(kim), None, "Neu zuordnen")
    assert await world.primary_of(kim) is None
    bert = await world.counsellor("Bert", chat=3)

    request = await world.submit(kim, CHAT)

    assigned_to(request, bert, RoutingReason.FIRST_REQUEST)  # Bert holds less than Anna
    assert await world.primary_of(kim) == bert.id
    history = await world.history(kim)
    assert [(h.previous_counsellor_id, h.new_counsellor_id, h.source) for h in history] == [
        (None, anna.id, AssignmentSource.AUTOMATIC),
        (anna.id, None, AssignmentSource.MANUAL),
        (None, bert.id, AssignmentSource.AUTOMATIC),
    ]


async def test_assigning_a_queued_request_by_hand_ignores_capacity_and_makes_the_assignee_primary(
    world: World,
) -> None:
    xena = await world.counsellor("Xena", online=False, chat=0)
    kim = await world.client()
    queued = await world.submit(kim, CHAT)
    assert queued.status is QUEUED

    done = await assign_request(world.deps, world.admin, queued.id, xena.id)

    assigned_to(done, xena, RoutingReason.MANUAL)
    assigned_to(await world.request(queued.id), xena, RoutingReason.MANUAL)
    assert (await world.state(xena.id)).active_chat_count == 1  # over its capacity of 0
    assert await world.primary_of(kim) == xena.id
    [entry] = await world.history(kim)
    assert (entry.source, entry.new_counsellor_id, entry.changed_by_id) == (
        AssignmentSource.MANUAL,
        xena.id,
        world.admin.counsellor_id,
    )


async def test_reassigning_by_hand_frees_the_previous_holders_slot_and_keeps_the_primary(
    world: World,
) -> None:
    anna = await world.counsellor("Anna")
    kim = await world.client()
    held = await first_request_to(world, kim, anna, CHAT)
    lou = await world.client("Lou")
    queued = await world.submit(lou, CHAT)
    bert = await world.counsellor("Bert", online=False)

    moved = await assign_request(world.deps, staff(anna), held.id, bert.id)

    assigned_to(moved, bert, RoutingReason.MANUAL)
    assert await world.primary_of(kim) == anna.id
    assert len(await world.history(kim)) == 1
    # Anna's slot was freed and dispatched: she takes Lou's queued chat.
    assigned_to(await world.request(queued.id), anna, RoutingReason.FIRST_REQUEST)
    assert (await world.state(anna.id)).active_chat_count == 1
    assert (await world.state(bert.id)).active_chat_count == 1
    await assert_loads_agree(world)


async def test_assigning_a_fallback_mail_by_hand_makes_the_assignee_primary(world: World) -> None:
    fritz = await world.counsellor("Fritz", online=False)
    await set_fallback_counsellor(world.deps, world.admin, fritz.id)
    kim = await world.client()
    mail = await world.submit(kim, MAIL)
    assigned_to(mail, fritz, RoutingReason.FALLBACK_COUNSELLOR)
    mira = await world.counsellor("Mira", online=False)

    await assign_request(world.deps, world.admin, mail.id, mira.id)

    assert await world.primary_of(kim) == mira.id
    assert (await world.state(fritz.id)).open_mail_count == 0
    assert (await world.state(mira.id)).open_mail_count == 1


@pytest.mark.parametrize("how", ["absent", "inactive"])
async def test_assigning_to_an_ineligible_counsellor_is_bad_user_input(world: World, how: str) -> None:
    xena = await world.counsellor("Xena", online=False)
    await _make_unavailable(world, xena, how)
    queued = await world.submit(await world.client(), CHAT)
    with pytest.raises(BadUserInput) as caught:
        await assign_request(world.deps, world.admin, queued.id, xena.id)
    assert caught.value.field == "counsellorId"
    assert (await world.request(queued.id)).status is QUEUED


async def test_assigning_a_closed_or_cancelled_request_is_a_conflict(world: World) -> None:
    xena = await world.counsellor("Xena")
    kim = await world.client()
    closed = await first_request_to(world, kim, xena, CHAT)
    await close_request(world.deps, staff(xena), closed.id)
    cancelled = await world.submit(await world.client("Lou"), MAIL)
    await cancel_request(world.deps, world.admin, cancelled.id)
    for request in (closed, cancelled):
        with pytest.raises(Conflict):
            await assign_request(world.deps, world.admin, request.id, xena.id)
    assert (await world.state(xena.id)).active_chat_count == 0


async def test_a_counsellor_who_cannot_see_the_request_cannot_assign_it(world: World) -> None:
    xena = await world.counsellor("Xena", online=False)
    queued = await world.submit(await world.client(), CHAT)
    with pytest.raises(NotFound):
        await assign_request(world.deps, staff(xena), queued.id, xena.id)


# --- Close, cancel, conflicts ----------------------------------------------------------------------


async def test_close_frees_the_chat_slot_and_the_mail_resource(world: World) -> None:
    xena = await world.counsellor("Xena", chat=2, mail=BY_FREE, resources=2)
    kim = await world.client()
    chat = await first_request_to(world, kim, xena, CHAT)
    mail = await world.submit(kim, MAIL)
    assigned_to(mail, xena, RoutingReason.PRIMARY_COUNSELLOR)
    before = await world.state(xena.id)
    assert (before.active_chat_count, before.open_mail_count) == (1, 1)

    await close_request(world.deps, staff(xena), chat.id)
    await close_request(world.deps, world.admin, mail.id)

    after = await world.state(xena.id)
    assert (after.active_chat_count, after.open_mail_count) == (0, 0)
    assert {(await world.request(r.id)).status for r in (chat, mail)} == {RequestStatus.CLOSED}
    # Closing keeps the holder on record, and the primary relationship is untouched.
    assert (await world.request(chat.id)).counsellor_id == xena.id
    assert await world.primary_of(kim) == xena.id


async def test_client_cancels_their_queued_request_without_touching_capacity(world: World) -> None:
    kim = await world.client()
    queued = await world.submit(kim, CHAT)
    cancelled = await cancel_request(world.deps, kim, queued.id)
    assert cancelled.status is RequestStatus.CANCELLED
    xena = await world.counsellor("Xena")
    # A cancelled request is never dispatched.
    assert (await world.request(queued.id)).status is RequestStatus.CANCELLED
    assert (await world.state(xena.id)).active_chat_count == 0
    assert await world.primary_of(kim) is None


async def test_acting_on_a_request_in_the_wrong_state_is_a_conflict(world: World) -> None:
    xena = await world.counsellor("Xena")
    kim = await world.client()
    assigned = await first_request_to(world, kim, xena, CHAT)
    queued = await world.submit(await world.client("Lou"), CHAT)

    with pytest.raises(Conflict):
        await close_request(world.deps, world.admin, queued.id)  # close a queued one
    with pytest.raises(Conflict):
        await cancel_request(world.deps, kim, assigned.id)  # the client cancels an assigned one
    await close_request(world.deps, staff(xena), assigned.id)
    # Lou's queued chat went to Xena on close.
    assert (await world.request(queued.id)).status is ASSIGNED
    with pytest.raises(Conflict):
        await close_request(world.deps, staff(xena), assigned.id)  # close a closed one
    with pytest.raises(Conflict):
        await cancel_request(world.deps, world.admin, assigned.id)  # cancel a closed one
    max_ = await world.client("Max")
    cancelled = await world.submit(max_, MAIL)
    assert cancelled.status is QUEUED
    await cancel_request(world.deps, max_, cancelled.id)
    with pytest.raises(Conflict):
        await cancel_request(world.deps, max_, cancelled.id)  # cancel a cancelled one
    assert (await world.state(xena.id)).active_chat_count == 1
    await assert_loads_agree(world)


async def test_only_the_holder_or_an_admin_may_close(world: World) -> None:
    anna = await world.counsellor("Anna")
    kim = await world.client()
    await first_request_to(world, kim, anna, CHAT)
    bert = await world.counsellor("Bert")
    second = await world.submit(kim, CHAT)
    assigned_to(second, bert, RoutingReason.PRIMARY_UNAVAILABLE)
    with pytest.raises(Forbidden):
        await close_request(world.deps, staff(anna), second.id)  # Anna sees it (primary) but does not hold it
    assert (await world.request(second.id)).status is ASSIGNED


# --- Idempotency ---------------------------------------------------------------------------------


async def test_the_same_idempotency_key_and_content_returns_the_first_request(world: World) -> None:
    xena = await world.counsellor("Xena", chat=3)
    kim = await world.client()
    first = await world.submit(kim, CHAT, "Hallo", key="k-1", subject="Thema")
    again = await world.submit(kim, CHAT, "Hallo", key="k-1", subject="Thema")
    assert again.id == first.id
    assert again.counsellor_id == xena.id
    assert len(await world.all_requests()) == 1
    assert (await world.state(xena.id)).active_chat_count == 1
    # Still the first request after it was closed.
    await close_request(world.deps, staff(xena), first.id)
    replay = await world.submit(kim, CHAT, "Hallo", key="k-1", subject="Thema")
    assert (replay.id, replay.status) == (first.id, RequestStatus.CLOSED)
    assert len(await world.all_requests()) == 1


@pytest.mark.parametrize(
    "change",
    [{"channel": MAIL}, {"message": "Anders"}, {"subject": "Anderes Thema"}, {"subject": None}],
    ids=["channel", "message", "subject", "no-subject"],
)
async def test_the_same_idempotency_key_with_other_content_is_a_conflict(
    world: World, change: dict[str, object]
) -> None:
    kim = await world.client()
    await world.submit(kim, CHAT, "Hallo", key="k-1", subject="Thema")
    args: dict[str, object] = {"channel": CHAT, "message": "Hallo", "subject": "Thema"} | change
    with pytest.raises(Conflict) as caught:
        await world.submit(kim, key="k-1", **args)  # type: ignore[arg-type]
    assert caught.value.field == "input.idempotencyKey"
    assert len(await world.all_requests()) == 1


async def test_idempotency_keys_of_different_clients_never_collide(world: World) -> None:
    kim, lou = await world.client("Kim"), await world.client("Lou")
    a = await world.submit(kim, MAIL, "Hallo", key="same")
    b = await world.submit(lou, MAIL, "Hallo", key="same")
    c = await world.submit(lou, CHAT, "Anders", key="same-2")
    assert len({a.id, b.id, c.id}) == 3
    assert (a.client_id, b.client_id) == (client_id(kim), client_id(lou))


async def test_a_counsellor_who_is_made_admin_keeps_their_routing(world: World) -> None:
    xena = await world.counsellor("Xena")
    await update_counsellor(world.deps, world.admin, CounsellorUpdate(xena.id, role=StaffRole.ADMIN))
    assigned_to(await world.submit(await world.client(), CHAT), xena, RoutingReason.FIRST_REQUEST)

"""routing.md rules 1 to 4 and the definitions of chat-free and mail-free, against domain/policy.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.model import (
    Channel,
    Counsellor,
    MailAvailability,
    OnlineStatus,
    Request,
    RequestStatus,
    RoutingReason,
    Settings,
    StaffRole,
)
from domain.policy import (
    QUEUE,
    RoutingDecision,
    chat_free,
    choose_counsellor,
    free_on,
    mail_free,
    may_take,
    primary_takes,
    route_request,
)

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
CHAT, MAIL = Channel.CHAT, Channel.MAIL
NO_WAIT = Settings()
WAIT = 90
WAITING = Settings(primary_chat_wait_seconds=WAIT)


def counsellor(cid: int = 1, **overrides: Any) -> Counsellor:
    """A counsellor free on both channels unless told otherwise; created in id order."""
    values: dict[str, Any] = {
        "email": f"c{cid}@example.org",
        "display_name": f"C{cid}",
        "role": StaffRole.COUNSELLOR,
        "created_at": NOW - timedelta(days=100 - cid),
        "online_status": OnlineStatus.ONLINE,
        "chat_capacity": 2,
        "mail_availability": MailAvailability.UNLIMITED,
    }
    return Counsellor(id=cid, **(values | overrides))


def request(channel: Channel, **overrides: Any) -> Request:
    values: dict[str, Any] = {"status": RequestStatus.QUEUED, "message": "Hallo", "created_at": NOW}
    return Request(id=1, client_id=1, channel=channel, **(values | overrides))


def route(
    channel: Channel,
    primary: Counsellor | None = None,
    others: list[Counsellor] | None = None,
    fallback: Counsellor | None = None,
    settings: Settings = NO_WAIT,
    req: Request | None = None,
) -> RoutingDecision:
    """Route like the adapter does: candidates are the counsellors who may take it."""
    pool = ([primary] if primary else []) + (others or [])
    primary_id = primary.id if primary else None
    candidates = [c for c in pool if may_take(c, channel, primary_id)]
    return route_request(req or request(channel), primary, candidates, fallback, settings, NOW)


BUSY_CHAT = [
    pytest.param({"active_chat_count": 2}, id="full"),
    pytest.param({"online_status": OnlineStatus.AWAY}, id="away"),
    pytest.param({"online_status": OnlineStatus.OFFLINE}, id="offline"),
]
NOT_ELIGIBLE = [
    pytest.param({"absent": True}, id="absent"),
    pytest.param({"active": False}, id="inactive"),
]


# --- chat-free -------------------------------------------------------------------------------


def test_chat_free_when_eligible_online_and_below_capacity() -> None:
    assert chat_free(counsellor(chat_capacity=3, active_chat_count=2))


@pytest.mark.parametrize("status", [OnlineStatus.AWAY, OnlineStatus.OFFLINE])
def test_chat_free_needs_online_status(status: OnlineStatus) -> None:
    assert not chat_free(counsellor(online_status=status))


@pytest.mark.parametrize(("capacity", "held"), [(1, 1), (2, 2), (0, 0), (1, 3)])
def test_chat_free_needs_held_chats_below_capacity(capacity: int, held: int) -> None:
    assert not chat_free(counsellor(chat_capacity=capacity, active_chat_count=held))


@pytest.mark.parametrize("overrides", NOT_ELIGIBLE)
def test_absent_or_inactive_counsellor_is_never_chat_free(overrides: dict[str, Any]) -> None:
    assert not chat_free(counsellor(**overrides))


# --- mail-free -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", list(OnlineStatus))
def test_unlimited_mail_is_free_whatever_the_load_and_online_status(status: OnlineStatus) -> None:
    assert mail_free(counsellor(online_status=status, open_mail_count=500))


@pytest.mark.parametrize("status", list(OnlineStatus))
def test_by_free_resources_is_mail_free_while_open_mails_below_resources(status: OnlineStatus) -> None:
    assert mail_free(
        counsellor(
            online_status=status,
            mail_availability=MailAvailability.BY_FREE_RESOURCES,
            mail_resources=3,
            open_mail_count=2,
        )
    )


@pytest.mark.parametrize(("resources", "open_mails"), [(3, 3), (0, 0), (1, 4)])
def test_by_free_resources_without_a_free_resource_is_not_mail_free(resources: int, open_mails: int) -> None:
    c = counsellor(
        mail_availability=MailAvailability.BY_FREE_RESOURCES,
        mail_resources=resources,
        open_mail_count=open_mails,
    )
    assert not mail_free(c)


def test_mail_availability_none_is_never_mail_free() -> None:
    assert not mail_free(counsellor(mail_availability=MailAvailability.NONE, mail_resources=10))


@pytest.mark.parametrize("overrides", NOT_ELIGIBLE)
def test_absent_or_inactive_counsellor_is_never_mail_free(overrides: dict[str, Any]) -> None:
    assert not mail_free(counsellor(**overrides))


def test_free_on_uses_the_rule_of_the_channel() -> None:
    offline_unlimited = counsellor(online_status=OnlineStatus.OFFLINE)
    online_no_mail = counsellor(mail_availability=MailAvailability.NONE)
    assert (free_on(offline_unlimited, CHAT), free_on(offline_unlimited, MAIL)) == (False, True)
    assert (free_on(online_no_mail, CHAT), free_on(online_no_mail, MAIL)) == (True, False)


# --- onlyOwnClients --------------------------------------------------------------------------


@pytest.mark.parametrize("channel", list(Channel))
def test_only_own_clients_counsellor_is_free_for_their_own_primary_clients(channel: Channel) -> None:
    assert may_take(counsellor(7, only_own_clients=True), channel, primary_id=7)


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("primary_id", [None, 8])
def test_only_own_clients_counsellor_is_not_free_for_other_clients(
    channel: Channel, primary_id: int | None
) -> None:
    assert not may_take(counsellor(7, only_own_clients=True), channel, primary_id)


@pytest.mark.parametrize("channel", list(Channel))
def test_may_take_still_needs_the_counsellor_free(channel: Channel) -> None:
    busy = counsellor(7, only_own_clients=True, absent=True)
    assert not may_take(busy, channel, primary_id=7)


# --- rule 1: the primary ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"mail_availability": MailAvailability.NONE}, id="none"),
        pytest.param(
            {
                "mail_availability": MailAvailability.BY_FREE_RESOURCES,
                "mail_resources": 2,
                "open_mail_count": 2,
            },
            id="no-free-resource",
        ),
        pytest.param(
            {"online_status": OnlineStatus.OFFLINE, "only_own_clients": True}, id="offline-own-only"
        ),
    ],
)
def test_primary_gets_mail_whatever_their_capacity(overrides: dict[str, Any]) -> None:
    primary = counsellor(1, **overrides)
    assert primary_takes(primary, MAIL)
    decision = route(MAIL, primary, others=[counsellor(2)])
    assert decision == RoutingDecision(
        1, RoutingReason.PRIMARY_COUNSELLOR, becomes_primary=False, checked=False
    )


@pytest.mark.parametrize("overrides", NOT_ELIGIBLE)
def test_primary_does_not_get_mail_when_absent_or_inactive(overrides: dict[str, Any]) -> None:
    primary = counsellor(1, **overrides)
    assert not primary_takes(primary, MAIL)
    assert route(MAIL, primary, others=[counsellor(2)]) == RoutingDecision(
        2, RoutingReason.PRIMARY_UNAVAILABLE
    )


def test_primary_gets_chat_when_chat_free_with_a_checked_claim() -> None:
    decision = route(CHAT, counsellor(1, active_chat_count=1), others=[counsellor(2)])
    assert decision == RoutingDecision(
        1, RoutingReason.PRIMARY_COUNSELLOR, becomes_primary=False, checked=True
    )


@pytest.mark.parametrize("overrides", BUSY_CHAT + NOT_ELIGIBLE)
def test_primary_not_chat_free_hands_chat_to_another_and_stays_primary(overrides: dict[str, Any]) -> None:
    primary = counsellor(1, **overrides)
    assert not primary_takes(primary, CHAT)
    decision = route(CHAT, primary, others=[counsellor(2)])
    assert decision == RoutingDecision(
        2, RoutingReason.PRIMARY_UNAVAILABLE, becomes_primary=False, checked=True
    )


@pytest.mark.parametrize("channel", list(Channel))
def test_primary_unavailable_chooses_among_others_by_rule_3(channel: Channel) -> None:
    primary = counsellor(1, absent=True)
    loaded = counsellor(2, active_chat_count=1, open_mail_count=1)
    decision = route(channel, primary, others=[loaded, counsellor(3)])
    assert decision.counsellor_id == 3
    assert decision.reason is RoutingReason.PRIMARY_UNAVAILABLE


@pytest.mark.parametrize("channel", list(Channel))
def test_primary_unavailable_skips_others_limited_to_own_clients(channel: Channel) -> None:
    decision = route(channel, counsellor(1, absent=True), others=[counsellor(2, only_own_clients=True)])
    assert decision == QUEUE


def test_primary_unavailable_never_goes_back_to_the_primary_even_if_listed() -> None:
    primary = counsellor(1, absent=True)
    decision = route_request(request(MAIL), primary, [primary, counsellor(2)], None, NO_WAIT, NOW)
    assert decision.counsellor_id == 2


# --- rule 2: first request -------------------------------------------------------------------


@pytest.mark.parametrize("channel", list(Channel))
def test_first_request_goes_to_a_free_counsellor_who_becomes_primary(channel: Channel) -> None:
    decision = route(channel, None, others=[counsellor(1)])
    assert decision == RoutingDecision(1, RoutingReason.FIRST_REQUEST, becomes_primary=True, checked=True)


def test_first_chat_uses_online_status() -> None:
    offline = counsellor(1, online_status=OnlineStatus.OFFLINE)
    online = counsellor(2, mail_availability=MailAvailability.NONE)
    assert route(CHAT, None, others=[offline, online]).counsellor_id == 2


def test_first_mail_uses_resources_not_online_status() -> None:
    no_mail = counsellor(1, mail_availability=MailAvailability.NONE)
    offline_unlimited = counsellor(2, online_status=OnlineStatus.OFFLINE)
    assert route(MAIL, None, others=[no_mail, offline_unlimited]).counsellor_id == 2


@pytest.mark.parametrize("channel", list(Channel))
def test_first_request_never_goes_to_a_counsellor_limited_to_own_clients(channel: Channel) -> None:
    assert route(channel, None, others=[counsellor(1, only_own_clients=True)]) == QUEUE


# --- rule 3: choosing among free counsellors -------------------------------------------------


def choose(channel: Channel, *candidates: Counsellor) -> int | None:
    """The choice in the given order and reversed must agree: the input order never matters."""
    forward = choose_counsellor(candidates, channel, None)
    backward = choose_counsellor(list(reversed(candidates)), channel, None)
    assert forward == backward
    return forward.id if forward else None


def test_choice_prefers_fewest_chats_held_ignoring_mail_load() -> None:
    many_chats = counsellor(1, active_chat_count=1, open_mail_count=0, chat_capacity=5)
    many_mails = counsellor(2, active_chat_count=0, open_mail_count=9)
    assert choose(CHAT, many_chats, many_mails) == 2


def test_choice_prefers_fewest_mails_held_ignoring_chat_load() -> None:
    many_chats = counsellor(1, active_chat_count=1, open_mail_count=0)
    many_mails = counsellor(2, active_chat_count=0, open_mail_count=1)
    assert choose(MAIL, many_chats, many_mails) == 1


@pytest.mark.parametrize("channel", list(Channel))
def test_choice_tie_goes_to_the_oldest_last_assignment_on_that_channel(channel: Channel) -> None:
    field = "last_chat_assigned_at" if channel is CHAT else "last_mail_assigned_at"
    recent = counsellor(1, **{field: NOW - timedelta(minutes=1)})
    older = counsellor(2, **{field: NOW - timedelta(hours=3)})
    assert choose(channel, recent, older) == 2


@pytest.mark.parametrize("channel", list(Channel))
def test_choice_counts_never_assigned_as_oldest(channel: Channel) -> None:
    field = "last_chat_assigned_at" if channel is CHAT else "last_mail_assigned_at"
    long_ago = counsellor(1, **{field: datetime(2000, 1, 1, tzinfo=UTC)})
    never = counsellor(2)
    assert choose(channel, long_ago, never) == 2


def test_choice_ignores_the_last_assignment_on_the_other_channel() -> None:
    chat_recently = counsellor(1, last_chat_assigned_at=NOW, last_mail_assigned_at=NOW - timedelta(days=9))
    mail_recently = counsellor(2, last_chat_assigned_at=NOW - timedelta(days=1), last_mail_assigned_at=NOW)
    assert choose(CHAT, chat_recently, mail_recently) == 2
    assert choose(MAIL, chat_recently, mail_recently) == 1


def test_choice_prefers_fewer_held_over_an_older_last_assignment() -> None:
    loaded_long_ago = counsellor(1, active_chat_count=1, last_chat_assigned_at=NOW - timedelta(days=30))
    idle_just_now = counsellor(2, last_chat_assigned_at=NOW)
    assert choose(CHAT, loaded_long_ago, idle_just_now) == 2


@pytest.mark.parametrize("channel", list(Channel))
def test_choice_then_goes_to_the_counsellor_created_first(channel: Channel) -> None:
    younger = counsellor(1, created_at=NOW - timedelta(days=1))
    older = counsellor(2, created_at=NOW - timedelta(days=2))
    assert choose(channel, younger, older) == 2


def test_choice_finally_goes_to_the_lowest_id() -> None:
    same = NOW - timedelta(days=1)
    assert choose(CHAT, counsellor(5, created_at=same), counsellor(3, created_at=same)) == 3


@pytest.mark.parametrize("channel", list(Channel))
def test_choice_skips_counsellors_who_are_not_free(channel: Channel) -> None:
    idle_but_absent = counsellor(1, absent=True)
    not_free = counsellor(
        2,
        online_status=OnlineStatus.AWAY,
        mail_availability=MailAvailability.NONE,
    )
    loaded = counsellor(3, active_chat_count=1, open_mail_count=4)
    assert choose(channel, idle_but_absent, not_free, loaded) == 3
    assert choose(channel, idle_but_absent, not_free) is None


def test_route_applies_rule_3_to_first_requests() -> None:
    loaded = counsellor(1, active_chat_count=1)
    recent = counsellor(2, last_chat_assigned_at=NOW)
    never = counsellor(3)
    assert route(CHAT, None, others=[loaded, recent, never]).counsellor_id == 3


# --- rule 4: nobody free ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"mail_availability": MailAvailability.NONE}, id="none"),
        pytest.param(
            {
                "mail_availability": MailAvailability.BY_FREE_RESOURCES,
                "mail_resources": 1,
                "open_mail_count": 5,
            },
            id="over-resources",
        ),
        pytest.param(
            {"online_status": OnlineStatus.OFFLINE, "mail_availability": MailAvailability.NONE}, id="off"
        ),
    ],
)
def test_mail_nobody_free_goes_to_the_fallback_whatever_their_capacity(overrides: dict[str, Any]) -> None:
    fallback = counsellor(9, **overrides)
    decision = route(
        MAIL, None, others=[counsellor(2, mail_availability=MailAvailability.NONE)], fallback=fallback
    )
    assert decision == RoutingDecision(
        9, RoutingReason.FALLBACK_COUNSELLOR, becomes_primary=False, checked=False
    )


def test_mail_with_unavailable_primary_and_nobody_free_goes_to_the_fallback() -> None:
    decision = route(
        MAIL, counsellor(1, absent=True), fallback=counsellor(9, mail_availability=MailAvailability.NONE)
    )
    assert (decision.counsellor_id, decision.reason) == (9, RoutingReason.FALLBACK_COUNSELLOR)
    assert not decision.becomes_primary


def test_fallback_is_not_used_while_someone_is_free() -> None:
    decision = route(MAIL, None, others=[counsellor(2, open_mail_count=50)], fallback=counsellor(9))
    assert (decision.counsellor_id, decision.reason) == (2, RoutingReason.FIRST_REQUEST)


@pytest.mark.parametrize(
    "overrides", [*NOT_ELIGIBLE, pytest.param({"only_own_clients": True}, id="own-only")]
)
def test_ineligible_or_own_clients_only_fallback_leaves_mail_queued(overrides: dict[str, Any]) -> None:
    assert route(MAIL, None, fallback=counsellor(9, **overrides)) == QUEUE


def test_mail_without_fallback_is_queued() -> None:
    assert route(MAIL, None, others=[counsellor(2, mail_availability=MailAvailability.NONE)]) == QUEUE


@pytest.mark.parametrize(
    "primary",
    [None, counsellor(1, online_status=OnlineStatus.OFFLINE)],
    ids=["no-primary", "offline-primary"],
)
def test_chat_never_uses_the_fallback(primary: Counsellor | None) -> None:
    fallback = counsellor(9, online_status=OnlineStatus.OFFLINE)
    assert route(CHAT, primary, fallback=fallback) == QUEUE


def test_queue_decision_assigns_nobody() -> None:
    assert not QUEUE.assigns
    assert (QUEUE.counsellor_id, QUEUE.reason, QUEUE.wait_for_id, QUEUE.wait_until) == (
        None,
        None,
        None,
        None,
    )


# --- rule 1: the bounded wait for a busy primary (chat) --------------------------------------


@pytest.mark.parametrize("overrides", BUSY_CHAT)
def test_new_chat_with_busy_primary_starts_a_wait_for_the_primary(overrides: dict[str, Any]) -> None:
    decision = route(CHAT, counsellor(1, **overrides), others=[counsellor(2)], settings=WAITING)
    assert decision == RoutingDecision(wait_for_id=1, wait_until=NOW + timedelta(seconds=WAIT))
    assert not decision.assigns


def test_without_a_configured_wait_busy_primary_hands_over_at_once() -> None:
    decision = route(CHAT, counsellor(1, online_status=OnlineStatus.AWAY), others=[counsellor(2)])
    assert decision == RoutingDecision(2, RoutingReason.PRIMARY_UNAVAILABLE)


def waiting_chat(until: datetime, for_id: int = 1) -> Request:
    return request(CHAT, waiting_for_id=for_id, wait_until=until)


def test_chat_waiting_for_its_primary_stays_queued_even_if_others_are_free() -> None:
    req = waiting_chat(NOW + timedelta(seconds=1))
    decision = route(CHAT, counsellor(1, active_chat_count=2), [counsellor(2)], settings=WAITING, req=req)
    assert decision == QUEUE


def test_chat_waiting_for_its_primary_goes_to_the_primary_once_free() -> None:
    req = waiting_chat(NOW + timedelta(seconds=30))
    decision = route(CHAT, counsellor(1), [counsellor(2)], settings=WAITING, req=req)
    assert decision == RoutingDecision(1, RoutingReason.PRIMARY_COUNSELLOR)


@pytest.mark.parametrize(
    "ended", [timedelta(0), timedelta(seconds=1), timedelta(hours=2)], ids=["now", "1s", "2h"]
)
def test_after_the_wait_ends_the_chat_is_offered_to_others(ended: timedelta) -> None:
    req = waiting_chat(NOW - ended)
    decision = route(CHAT, counsellor(1, active_chat_count=2), [counsellor(2)], settings=WAITING, req=req)
    assert decision == RoutingDecision(2, RoutingReason.PRIMARY_UNAVAILABLE, becomes_primary=False)


def test_after_the_wait_ends_with_nobody_free_the_chat_stays_queued_without_a_new_wait() -> None:
    req = waiting_chat(NOW - timedelta(seconds=5))
    assert route(CHAT, counsellor(1, online_status=OnlineStatus.OFFLINE), settings=WAITING, req=req) == QUEUE


@pytest.mark.parametrize("overrides", NOT_ELIGIBLE)
def test_absent_or_inactive_primary_is_never_waited_for(overrides: dict[str, Any]) -> None:
    primary = counsellor(1, **overrides)
    assert route(CHAT, primary, [counsellor(2)], settings=WAITING) == RoutingDecision(
        2, RoutingReason.PRIMARY_UNAVAILABLE
    )
    assert route(CHAT, primary, settings=WAITING) == QUEUE


@pytest.mark.parametrize("overrides", NOT_ELIGIBLE)
def test_a_running_wait_ends_early_when_the_primary_becomes_absent_or_inactive(
    overrides: dict[str, Any],
) -> None:
    req = waiting_chat(NOW + timedelta(seconds=60))
    decision = route(CHAT, counsellor(1, **overrides), [counsellor(2)], settings=WAITING, req=req)
    assert decision == RoutingDecision(2, RoutingReason.PRIMARY_UNAVAILABLE)


def test_mail_never_waits_for_the_primary() -> None:
    decision = route(MAIL, counsellor(1, absent=True), [counsellor(2)], settings=WAITING)
    assert decision == RoutingDecision(2, RoutingReason.PRIMARY_UNAVAILABLE)


def test_first_chat_never_waits() -> None:
    assert route(CHAT, None, [counsellor(2)], settings=WAITING) == RoutingDecision(
        2, RoutingReason.FIRST_REQUEST, becomes_primary=True
    )


def test_rule_3_names_the_other_free_candidates_in_its_order_as_alternatives() -> None:
    """A router that finds the chosen counsellor's row busy claims the next of these instead."""
    busy = counsellor(1, active_chat_count=1)
    idle = counsellor(2)
    full = counsellor(3, active_chat_count=2)
    own = counsellor(4, only_own_clients=True)
    earlier = counsellor(5, last_chat_assigned_at=NOW - timedelta(hours=1))
    decision = route_request(request(CHAT), None, [busy, idle, full, own, earlier], None, NO_WAIT, NOW)
    assert decision.counsellor_id == 2
    assert decision.alternatives == (5, 1)


def test_without_candidate_choice_there_are_no_alternatives() -> None:
    primary = counsellor(1)
    decision = route_request(request(CHAT), primary, [primary, counsellor(2)], None, NO_WAIT, NOW)
    assert decision.reason is RoutingReason.PRIMARY_COUNSELLOR and decision.alternatives == ()

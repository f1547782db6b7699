"""The routing trace of domain/policy.py: one step per thing the policy looked at, for every path.

Also the policy's handling of counsellors who let a request lapse unaccepted (`excluded_ids`) and of
a primary set by that very request (`set_primary`): docs/routing.md, "Re-offering chats".
"""

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
    RoutingStep,
    Settings,
    StaffRole,
)
from domain.policy import RoutingDecision, may_take, route_request, why_not_free

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
CHAT, MAIL = Channel.CHAT, Channel.MAIL
NO_WAIT = Settings()
WAITING = Settings(primary_chat_wait_seconds=90)


def counsellor(cid: int, **overrides: Any) -> Counsellor:
    """Free on both channels unless told otherwise: ONLINE, 2 chat slots, UNLIMITED mail."""
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


def request(channel: Channel = CHAT, **overrides: Any) -> Request:
    values: dict[str, Any] = {"status": RequestStatus.QUEUED, "message": "Hallo", "created_at": NOW}
    return Request(id=1, client_id=1, channel=channel, **(values | overrides))


def route(
    channel: Channel = CHAT,
    primary: Counsellor | None = None,
    others: list[Counsellor] | None = None,
    fallback: Counsellor | None = None,
    settings: Settings = NO_WAIT,
    req: Request | None = None,
    now: datetime = NOW,
) -> RoutingDecision:
    """Route like the adapter does: candidates are those who may take it (the primary included)."""
    pool = ([primary] if primary else []) + (others or [])
    primary_id = primary.id if primary else None
    candidates = [c for c in pool if may_take(c, channel, primary_id)]
    return route_request(req or request(channel), primary, candidates, fallback, settings, now)


def outcomes(decision: RoutingDecision) -> list[tuple[str, int | None, str | None]]:
    return [(s.outcome, s.counsellor_id, s.detail) for s in decision.steps]


NEVER = "holds 0 chat requests, never assigned"


# --- each path and its steps ---------------------------------------------------------------------


@pytest.mark.parametrize("channel", [CHAT, MAIL])
def test_primary_takes_is_the_only_step(channel: Channel) -> None:
    decision = route(channel, counsellor(1), [counsellor(2)])
    assert decision.steps == (RoutingStep(NOW, "PRIMARY_TAKES", 1, None),)
    assert (decision.counsellor_id, decision.reason) == (1, RoutingReason.PRIMARY_COUNSELLOR)


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        pytest.param({"absent": True}, "absent", id="absent"),
        pytest.param({"active": False}, "inactive", id="inactive"),
        pytest.param({"active": False, "absent": True}, "inactive", id="inactive-and-absent"),
        pytest.param({"online_status": OnlineStatus.OFFLINE}, "offline", id="offline"),
        pytest.param({"online_status": OnlineStatus.AWAY}, "away", id="away"),
        pytest.param({"active_chat_count": 2}, "full (2/2 chats)", id="full"),
        pytest.param({"chat_capacity": 3, "active_chat_count": 3}, "full (3/3 chats)", id="full-3"),
        pytest.param({"chat_capacity": 0}, "full (0/0 chats)", id="no-slots"),
    ],
)
def test_primary_skipped_says_why_then_a_candidate_is_chosen(overrides: dict[str, Any], detail: str) -> None:
    decision = route(CHAT, counsellor(1, **overrides), [counsellor(2)])
    assert outcomes(decision) == [
        ("PRIMARY_SKIPPED", 1, detail),
        ("CANDIDATE_CHOSEN", 2, f"{NEVER}; 1 free"),
    ]
    assert (decision.counsellor_id, decision.reason) == (2, RoutingReason.PRIMARY_UNAVAILABLE)
    assert not decision.becomes_primary


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        pytest.param({"absent": True}, "absent", id="absent"),
        pytest.param({"active": False}, "inactive", id="inactive"),
    ],
)
def test_mail_primary_is_skipped_only_when_absent_or_inactive(overrides: dict[str, Any], detail: str) -> None:
    decision = route(MAIL, counsellor(1, **overrides), [counsellor(2)])
    assert outcomes(decision) == [
        ("PRIMARY_SKIPPED", 1, detail),
        ("CANDIDATE_CHOSEN", 2, "holds 0 mail requests, never assigned; 1 free"),
    ]


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        pytest.param({"mail_availability": MailAvailability.NONE}, "takes no mail", id="none"),
        pytest.param(
            {
                "mail_availability": MailAvailability.BY_FREE_RESOURCES,
                "mail_resources": 2,
                "open_mail_count": 2,
            },
            "full (2/2 mail requests)",
            id="full",
        ),
    ],
)
def test_why_not_free_for_mail(overrides: dict[str, Any], detail: str) -> None:
    assert why_not_free(counsellor(1, **overrides), MAIL) == detail


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"active_chat_count": 2}, id="full"),
        pytest.param({"online_status": OnlineStatus.AWAY}, id="away"),
        pytest.param({"online_status": OnlineStatus.OFFLINE}, id="offline"),
    ],
)
def test_waiting_for_primary_says_how_long(overrides: dict[str, Any]) -> None:
    primary = counsellor(1, **overrides)
    decision = route(CHAT, primary, [counsellor(2)], settings=Settings(primary_chat_wait_seconds=45))
    assert outcomes(decision) == [
        ("PRIMARY_SKIPPED", 1, why_not_free(primary, CHAT)),
        ("WAITING_FOR_PRIMARY", 1, "up to 45 s"),
    ]
    assert not decision.assigns
    assert (decision.wait_for_id, decision.wait_until) == (1, NOW + timedelta(seconds=45))


def test_running_wait_adds_only_the_skip_and_starts_no_new_wait() -> None:
    waiting = request(
        created_at=NOW - timedelta(seconds=30), waiting_for_id=1, wait_until=NOW + timedelta(seconds=60)
    )
    decision = route(CHAT, counsellor(1, active_chat_count=2), [counsellor(2)], settings=WAITING, req=waiting)
    assert outcomes(decision) == [("PRIMARY_SKIPPED", 1, "full (2/2 chats)")]
    assert (decision.assigns, decision.wait_until) == (False, None)


def test_primary_freed_during_the_wait_takes_it() -> None:
    waiting = request(
        created_at=NOW - timedelta(seconds=30), waiting_for_id=1, wait_until=NOW + timedelta(seconds=60)
    )
    decision = route(CHAT, counsellor(1), [counsellor(2)], settings=WAITING, req=waiting)
    assert outcomes(decision) == [("PRIMARY_TAKES", 1, None)]
    assert decision.reason is RoutingReason.PRIMARY_COUNSELLOR


def test_wait_ended_says_how_long_it_waited_then_a_candidate_is_chosen() -> None:
    waited = request(
        created_at=NOW - timedelta(seconds=91), waiting_for_id=1, wait_until=NOW - timedelta(seconds=1)
    )
    decision = route(CHAT, counsellor(1, active_chat_count=2), [counsellor(2)], settings=WAITING, req=waited)
    assert outcomes(decision) == [
        ("PRIMARY_SKIPPED", 1, "full (2/2 chats)"),
        ("WAIT_ENDED", 1, "waited 90 s"),
        ("CANDIDATE_CHOSEN", 2, f"{NEVER}; 1 free"),
    ]
    assert (decision.counsellor_id, decision.reason) == (2, RoutingReason.PRIMARY_UNAVAILABLE)


def test_wait_ended_with_nobody_free_queues_without_a_new_wait() -> None:
    waited = request(created_at=NOW - timedelta(seconds=95), waiting_for_id=1, wait_until=NOW)
    decision = route(CHAT, counsellor(1, active_chat_count=2), [], settings=WAITING, req=waited)
    assert outcomes(decision) == [
        ("PRIMARY_SKIPPED", 1, "full (2/2 chats)"),
        ("WAIT_ENDED", 1, "waited 95 s"),
        ("QUEUED", None, "nobody free for chat"),
    ]
    assert (decision.assigns, decision.wait_until) == (False, None)


@pytest.mark.parametrize("overrides", [{"absent": True}, {"active": False}], ids=["absent", "inactive"])
def test_absent_or_inactive_primary_is_never_waited_for(overrides: dict[str, Any]) -> None:
    decision = route(CHAT, counsellor(1, **overrides), [], settings=WAITING)
    assert [o for o, _, _ in outcomes(decision)] == ["PRIMARY_SKIPPED", "QUEUED"]
    assert decision.wait_until is None


def test_candidate_chosen_detail_names_load_last_assignment_and_free_count() -> None:
    last = NOW - timedelta(minutes=5)
    busy = counsellor(2, active_chat_count=1, last_chat_assigned_at=last)
    also_busy = counsellor(3, active_chat_count=1, last_chat_assigned_at=NOW - timedelta(minutes=1))
    full = counsellor(4, active_chat_count=2)
    decision = route(CHAT, None, [busy, also_busy, full])
    assert outcomes(decision) == [
        ("CANDIDATE_CHOSEN", 2, f"holds 1 chat requests, last assigned {last.isoformat()}; 2 free")
    ]
    assert (decision.counsellor_id, decision.reason, decision.becomes_primary) == (
        2,
        RoutingReason.FIRST_REQUEST,
        True,
    )


def test_free_count_leaves_out_the_primary_and_excluded_counsellors() -> None:
    req = request(excluded_ids=(3,))
    decision = route(
        CHAT, counsellor(1, online_status=OnlineStatus.AWAY), [counsellor(2), counsellor(3)], req=req
    )
    assert outcomes(decision)[-1] == ("CANDIDATE_CHOSEN", 2, f"{NEVER}; 1 free")


def test_fallback_used_for_mail_nobody_takes() -> None:
    fallback = counsellor(5, mail_availability=MailAvailability.NONE)
    decision = route(MAIL, None, [counsellor(2, mail_availability=MailAvailability.NONE)], fallback=fallback)
    assert outcomes(decision) == [("FALLBACK_USED", 5, "nobody free for mail")]
    assert (decision.counsellor_id, decision.reason, decision.becomes_primary, decision.checked) == (
        5,
        RoutingReason.FALLBACK_COUNSELLOR,
        False,
        False,
    )


def test_fallback_after_skipping_an_absent_primary() -> None:
    decision = route(MAIL, counsellor(1, absent=True), [], fallback=counsellor(5))
    assert outcomes(decision) == [
        ("PRIMARY_SKIPPED", 1, "absent"),
        ("FALLBACK_USED", 5, "nobody free for mail"),
    ]


@pytest.mark.parametrize("channel", [CHAT, MAIL])
def test_queued_when_nobody_is_free(channel: Channel) -> None:
    nobody = counsellor(2, online_status=OnlineStatus.OFFLINE, mail_availability=MailAvailability.NONE)
    decision = route(channel, None, [nobody])
    assert outcomes(decision) == [("QUEUED", None, f"nobody free for {channel.value.lower()}")]
    assert not decision.assigns


def test_every_step_carries_the_time_of_the_decision() -> None:
    later = NOW + timedelta(minutes=3)
    decision = route(CHAT, counsellor(1, active_chat_count=2), [], now=later)
    assert [s.at for s in decision.steps] == [later, later]


def test_steps_are_not_part_of_the_decision_identity() -> None:
    direct = route(CHAT, None, [counsellor(2)])
    after_skip = route(CHAT, counsellor(1, absent=True), [counsellor(2)])
    assert direct.steps != after_skip.steps
    assert (direct.counsellor_id, direct.checked) == (after_skip.counsellor_id, after_skip.checked)


# --- excluded counsellors (let this request lapse unaccepted) ---------------------------------------


@pytest.mark.parametrize("channel", [CHAT, MAIL])
def test_excluded_counsellor_is_never_chosen_even_when_best(channel: Channel) -> None:
    best, worse = counsellor(2), counsellor(3, active_chat_count=1, open_mail_count=1)
    decision = route(channel, None, [best, worse], req=request(channel, excluded_ids=(2,)))
    assert decision.counsellor_id == 3


def test_only_excluded_counsellors_free_means_queued() -> None:
    decision = route(CHAT, None, [counsellor(2), counsellor(3)], req=request(excluded_ids=(2, 3)))
    assert outcomes(decision) == [("QUEUED", None, "nobody free for chat")]


def test_excluded_primary_is_skipped_with_the_reason_and_stays_primary() -> None:
    req = request(excluded_ids=(1,))
    decision = route(CHAT, counsellor(1), [counsellor(2)], settings=WAITING, req=req)
    assert outcomes(decision) == [
        ("PRIMARY_SKIPPED", 1, "did not accept this request in time"),
        ("CANDIDATE_CHOSEN", 2, f"{NEVER}; 1 free"),
    ]
    # No wait for a primary who let this very request lapse, and they stay primary.
    assert (decision.counsellor_id, decision.reason, decision.becomes_primary) == (
        2,
        RoutingReason.PRIMARY_UNAVAILABLE,
        False,
    )


def test_excluded_primary_and_nobody_else_queues_without_waiting() -> None:
    decision = route(CHAT, counsellor(1), [], settings=WAITING, req=request(excluded_ids=(1,)))
    assert [o for o, _, _ in outcomes(decision)] == ["PRIMARY_SKIPPED", "QUEUED"]
    assert decision.wait_until is None


def test_excluded_counsellor_limited_to_own_clients_gets_nothing_as_primary() -> None:
    own = counsellor(1, only_own_clients=True)
    decision = route(CHAT, own, [counsellor(2, only_own_clients=True)], req=request(excluded_ids=(1,)))
    assert not decision.assigns


# --- a provisional primary: set by this very request, then excluded --------------------------------


@pytest.mark.parametrize("channel", [CHAT, MAIL])
def test_provisional_primary_excluded_makes_the_next_counsellor_primary(channel: Channel) -> None:
    req = request(channel, excluded_ids=(1,), set_primary=True)
    decision = route(channel, counsellor(1), [counsellor(2)], settings=WAITING, req=req)
    assert (decision.counsellor_id, decision.reason, decision.becomes_primary) == (
        2,
        RoutingReason.FIRST_REQUEST,
        True,
    )
    # No PRIMARY_SKIPPED: it counts as no primary at all.
    assert [o for o, _, _ in outcomes(decision)] == ["CANDIDATE_CHOSEN"]


def test_provisional_primary_is_not_chosen_even_when_the_only_free_one() -> None:
    req = request(excluded_ids=(1,), set_primary=True)
    decision = route(CHAT, counsellor(1), [counsellor(2, online_status=OnlineStatus.OFFLINE)], req=req)
    assert outcomes(decision) == [("QUEUED", None, "nobody free for chat")]


def test_provisional_primary_gives_own_clients_only_colleagues_nothing() -> None:
    req = request(excluded_ids=(1,), set_primary=True)
    decision = route(CHAT, counsellor(1), [counsellor(2, only_own_clients=True)], req=req)
    assert not decision.assigns


def test_set_primary_without_exclusion_is_an_ordinary_primary() -> None:
    req = request(set_primary=True)
    decision = route(CHAT, counsellor(1), [counsellor(2)], req=req)
    assert (decision.counsellor_id, decision.reason, decision.becomes_primary) == (
        1,
        RoutingReason.PRIMARY_COUNSELLOR,
        False,
    )


def test_provisional_primary_next_one_excluded_too_goes_to_a_third() -> None:
    req = request(excluded_ids=(1, 2), set_primary=True)
    decision = route(CHAT, counsellor(1), [counsellor(2), counsellor(3, active_chat_count=1)], req=req)
    assert (decision.counsellor_id, decision.becomes_primary) == (3, True)


# --- onlyOwnClients ------------------------------------------------------------------------------


def test_own_clients_only_counsellor_takes_their_own_client_as_primary() -> None:
    decision = route(CHAT, counsellor(1, only_own_clients=True), [counsellor(2)])
    assert (decision.counsellor_id, decision.reason) == (1, RoutingReason.PRIMARY_COUNSELLOR)


@pytest.mark.parametrize("channel", [CHAT, MAIL])
def test_own_clients_only_counsellor_never_takes_others_clients(channel: Channel) -> None:
    own = counsellor(2, only_own_clients=True)
    assert not route(channel, None, [own]).assigns
    busy_primary = counsellor(1, active=False)
    assert not route(channel, busy_primary, [own]).assigns

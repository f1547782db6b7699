"""A request's transitions (domain.model.Request): which states allow them, what they change,
which holder they free, and the trace step they record."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.errors import Conflict, InvalidTransition
from domain.model import Channel, Request, RequestStatus, RoutingReason, RoutingStep, TraceOutcome
from tests.fakes import START

QUEUED, ASSIGNED = RequestStatus.QUEUED, RequestStatus.ASSIGNED
CLOSED, CANCELLED = RequestStatus.CLOSED, RequestStatus.CANCELLED
LATER = START + timedelta(minutes=5)
CHOSEN = RoutingStep(START, TraceOutcome.CANDIDATE_CHOSEN, 7, "holds 0 chat requests")


def queued(**changes: object) -> Request:
    request = Request(
        id=1, client_id=2, channel=Channel.CHAT, status=QUEUED, message="Hallo", created_at=START
    )
    return replace(request, **changes)  # type: ignore[arg-type]


def assigned(counsellor_id: int = 7, **changes: object) -> Request:
    request = queued()
    request.assign(counsellor_id, RoutingReason.FIRST_REQUEST, START, (CHOSEN,))
    return replace(request, **changes)  # type: ignore[arg-type]


def in_state(status: RequestStatus) -> Request:
    if status is QUEUED:
        return queued()
    request = assigned()
    if status is CLOSED:
        request.close(START)
    elif status is CANCELLED:
        request.cancel(START)
    return request


def test_an_impossible_transition_is_a_conflict_on_the_requests_id() -> None:
    with pytest.raises(Conflict) as raised:
        in_state(CANCELLED).close(LATER)
    assert isinstance(raised.value, InvalidTransition)
    assert raised.value.field == "id"
    assert "CANCELLED" in raised.value.message


# --- assign ------------------------------------------------------------------------------------


def test_assigning_a_queued_request_holds_the_counsellor_and_explains_why() -> None:
    request = queued(waiting_for_id=3, wait_until=LATER)
    previous = request.assign(7, RoutingReason.FIRST_REQUEST, START, (CHOSEN,), made_primary=True)
    assert previous is None
    assert (request.status, request.counsellor_id, request.routing_reason) == (
        ASSIGNED,
        7,
        RoutingReason.FIRST_REQUEST,
    )
    assert (request.assigned_at, request.accepted_at) == (START, None)
    assert (request.waiting_for_id, request.wait_until) == (None, None)
    assert request.trace == (CHOSEN,)
    assert request.set_primary


def test_reassigning_by_hand_returns_the_previous_holder_and_starts_unaccepted() -> None:
    request = assigned(7)
    request.accept(START)
    previous = request.assign(8, RoutingReason.MANUAL, LATER)
    assert previous == 7
    assert (request.counsellor_id, request.assigned_at, request.accepted_at) == (8, LATER, None)
    assert request.trace[-1] == RoutingStep(LATER, TraceOutcome.MANUAL, 8, "assigned by hand")
    assert not request.set_primary  # only a routing decision marks the primary as set by this request


@pytest.mark.parametrize("status", [CLOSED, CANCELLED])
def test_a_closed_or_cancelled_request_cannot_be_assigned(status: RequestStatus) -> None:
    request = in_state(status)
    with pytest.raises(InvalidTransition):
        request.require_assignable()
    with pytest.raises(InvalidTransition):
        request.assign(8, RoutingReason.MANUAL, LATER)
    assert (request.status, request.counsellor_id) == (status, 7)


# --- keep queued -------------------------------------------------------------------------------


def test_staying_queued_explains_the_first_queue_entry_only() -> None:
    nobody = (RoutingStep(START, TraceOutcome.QUEUED, None, "nobody free for chat"),)
    request = queued()
    request.keep_queued(nobody)
    request.keep_queued(nobody)
    assert request.trace == nobody


def test_a_wait_for_the_primary_is_noted_and_explained() -> None:
    queue = RoutingStep(START, TraceOutcome.QUEUED, None, "nobody free for chat")
    wait = RoutingStep(START, TraceOutcome.WAITING_FOR_PRIMARY, 3, "up to 60 s")
    request = queued(trace=(queue,))
    request.keep_queued((wait,), 3, LATER)
    assert (request.waiting_for_id, request.wait_until) == (3, LATER)
    assert request.trace == (queue, wait)


@pytest.mark.parametrize("status", [ASSIGNED, CLOSED, CANCELLED])
def test_only_a_queued_request_stays_queued(status: RequestStatus) -> None:
    with pytest.raises(InvalidTransition):
        in_state(status).keep_queued(())


# --- accept and return to the queue -------------------------------------------------------------


def test_accepting_is_recorded_once() -> None:
    request = assigned()
    assert request.accept(START)
    assert not request.accept(LATER)
    assert request.accepted_at == START


@pytest.mark.parametrize("status", [QUEUED, CLOSED, CANCELLED])
def test_only_an_assigned_request_can_be_accepted(status: RequestStatus) -> None:
    request = in_state(status)
    with pytest.raises(InvalidTransition):
        request.accept(LATER)
    assert request.accepted_at is None


def test_an_unaccepted_chat_returns_to_the_queue_never_to_its_holder_again() -> None:
    request = assigned(7, excluded_ids=(5,))
    assert request.return_to_queue(LATER, 30) == 7
    assert (request.status, request.counsellor_id, request.routing_reason, request.assigned_at) == (
        QUEUED,
        None,
        None,
        None,
    )
    assert request.excluded_ids == (5, 7)
    assert request.trace[-1] == RoutingStep(LATER, TraceOutcome.ACCEPT_TIMEOUT, 7, "not accepted within 30 s")


def test_an_accepted_request_is_never_taken_back() -> None:
    request = assigned(7)
    request.accept(START)
    with pytest.raises(InvalidTransition):
        request.return_to_queue(LATER, 30)
    assert (request.status, request.counsellor_id, request.excluded_ids) == (ASSIGNED, 7, ())


@pytest.mark.parametrize("status", [QUEUED, CLOSED, CANCELLED])
def test_only_an_assigned_request_can_be_taken_back(status: RequestStatus) -> None:
    with pytest.raises(InvalidTransition):
        in_state(status).return_to_queue(LATER, 30)


# --- close and cancel ----------------------------------------------------------------------------


def test_closing_frees_the_holder_and_keeps_who_handled_it() -> None:
    request = assigned(7)
    assert request.close(LATER) == 7
    assert (request.status, request.closed_at, request.counsellor_id) == (CLOSED, LATER, 7)
    assert request.holder_id is None and not request.is_open


@pytest.mark.parametrize("status", [QUEUED, CLOSED, CANCELLED])
def test_only_an_assigned_request_can_be_closed(status: RequestStatus) -> None:
    request = in_state(status)
    before = replace(request)
    with pytest.raises(InvalidTransition):
        request.close(LATER)
    assert request == before


def test_cancelling_a_queued_request_frees_nothing_and_ends_its_wait() -> None:
    request = queued(waiting_for_id=3, wait_until=LATER)
    assert request.cancel(START, by_client=True) is None
    assert (request.status, request.closed_at, request.waiting_for_id, request.wait_until) == (
        CANCELLED,
        START,
        None,
        None,
    )


def test_staff_cancelling_an_assigned_request_frees_the_holder() -> None:
    request = assigned(7)
    assert request.cancel(LATER) == 7
    assert request.status is CANCELLED


def test_the_client_cannot_cancel_an_assigned_request() -> None:
    request = assigned(7)
    with pytest.raises(InvalidTransition):
        request.cancel(LATER, by_client=True)
    assert (request.status, request.holder_id) == (ASSIGNED, 7)


@pytest.mark.parametrize("status", [CLOSED, CANCELLED])
@pytest.mark.parametrize("by_client", [True, False])
def test_a_finished_request_cannot_be_cancelled(status: RequestStatus, by_client: bool) -> None:
    request = in_state(status)
    with pytest.raises(InvalidTransition):
        request.cancel(LATER, by_client=by_client)
    assert request.closed_at == START

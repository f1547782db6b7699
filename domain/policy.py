"""The routing policy (routing.md): who is free, who is chosen, where a request goes.

Pure functions over snapshots. The database adapter mirrors `chat_free`/`mail_free`
in SQL to find candidates with an index and to claim capacity atomically; a test
checks that both agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from domain.model import (
    Channel,
    Counsellor,
    MailAvailability,
    OnlineStatus,
    Request,
    RoutingReason,
    RoutingStep,
    Settings,
    TraceOutcome,
)

_NEVER = datetime.min.replace(tzinfo=UTC)


def chat_free(counsellor: Counsellor) -> bool:
    """Eligible, online and with a free chat slot."""
    return (
        counsellor.eligible
        and counsellor.online_status is OnlineStatus.ONLINE
        and counsellor.active_chat_count < counsellor.chat_capacity
    )


def mail_free(counsellor: Counsellor) -> bool:
    """Eligible and with mail availability left; needs no online status."""
    if not counsellor.eligible:
        return False
    if counsellor.mail_availability is MailAvailability.UNLIMITED:
        return True
    if counsellor.mail_availability is MailAvailability.BY_FREE_RESOURCES:
        return counsellor.open_mail_count < counsellor.mail_resources
    return False


def free_on(counsellor: Counsellor, channel: Channel) -> bool:
    """Free for a new request on `channel`, ignoring whose client it is."""
    return chat_free(counsellor) if channel is Channel.CHAT else mail_free(counsellor)


def may_take(counsellor: Counsellor, channel: Channel, primary_id: int | None) -> bool:
    """Free on `channel` for a client whose primary is `primary_id`."""
    if counsellor.only_own_clients and counsellor.id != primary_id:
        return False
    return free_on(counsellor, channel)


def primary_takes(primary: Counsellor, channel: Channel) -> bool:
    """The primary takes their client's request: for mail the relationship beats capacity."""
    if channel is Channel.MAIL:
        return primary.eligible
    return chat_free(primary)


def choice_key(counsellor: Counsellor, channel: Channel) -> tuple[int, datetime, datetime, int]:
    """Fewest held, then longest since the last assignment, then created first."""
    last = counsellor.last_assigned_at(channel) or _NEVER
    return (counsellor.load(channel), last, counsellor.created_at, counsellor.id)


def ranked(candidates: Iterable[Counsellor], channel: Channel, primary_id: int | None) -> list[Counsellor]:
    """The free counsellors among `candidates`, in the order rule 3 prefers them."""
    free = [c for c in candidates if may_take(c, channel, primary_id)]
    return sorted(free, key=lambda c: choice_key(c, channel))


def choose_counsellor(
    candidates: Iterable[Counsellor], channel: Channel, primary_id: int | None
) -> Counsellor | None:
    """The free counsellor rule 3 picks among `candidates`, or None."""
    return next(iter(ranked(candidates, channel, primary_id)), None)


@dataclass(frozen=True)
class RoutingDecision:
    """Where a request goes, and why. `checked` claims capacity only while still free."""

    counsellor_id: int | None = None
    reason: RoutingReason | None = None
    becomes_primary: bool = False
    checked: bool = True
    wait_for_id: int | None = None
    wait_until: datetime | None = None
    # Not part of the decision's identity: the same decision may be reached by different paths.
    steps: tuple[RoutingStep, ...] = field(default=(), compare=False)
    # Rule 3 only: the free candidates ranked after the chosen one, best first. A router that
    # finds the chosen one's row busy with another assignment may claim the next instead (all
    # concurrent first requests would otherwise queue on the one least-loaded counsellor).
    alternatives: tuple[int, ...] = field(default=(), compare=False)

    @property
    def assigns(self) -> bool:
        return self.counsellor_id is not None


QUEUE = RoutingDecision()


class _Trace:
    """Collects the steps of one decision."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.steps: list[RoutingStep] = []

    def step(
        self, outcome: TraceOutcome, counsellor_id: int | None = None, detail: str | None = None
    ) -> None:
        self.steps.append(RoutingStep(self.now, outcome, counsellor_id, detail))

    def decide(self, **fields: object) -> RoutingDecision:
        return RoutingDecision(steps=tuple(self.steps), **fields)  # type: ignore[arg-type]


def why_not_free(counsellor: Counsellor, channel: Channel) -> str:
    """Why a counsellor is not free on `channel`, in words for the routing trace."""
    if not counsellor.active:
        return "inactive"
    if counsellor.absent:
        return "absent"
    if channel is Channel.CHAT:
        if counsellor.online_status is not OnlineStatus.ONLINE:
            return counsellor.online_status.value.lower()
        return f"full ({counsellor.active_chat_count}/{counsellor.chat_capacity} chats)"
    if counsellor.mail_availability is MailAvailability.NONE:
        return "takes no mail"
    return f"full ({counsellor.open_mail_count}/{counsellor.mail_resources} mail requests)"


def _waiting_for_primary(request: Request, primary: Counsellor, now: datetime) -> bool:
    return (
        request.waiting_for_id == primary.id and request.wait_until is not None and request.wait_until > now
    )


def _to_primary(
    request: Request, primary: Counsellor, settings: Settings, trace: _Trace
) -> RoutingDecision | None:
    """Rule 1: the primary takes it, the request waits for them, or None (offer it to others)."""
    channel, now = request.channel, trace.now
    if primary.id in request.excluded_ids:
        trace.step(TraceOutcome.PRIMARY_SKIPPED, primary.id, "did not accept this request in time")
        return None
    if primary_takes(primary, channel):
        trace.step(TraceOutcome.PRIMARY_TAKES, primary.id)
        return trace.decide(
            counsellor_id=primary.id, reason=RoutingReason.PRIMARY_COUNSELLOR, checked=channel is Channel.CHAT
        )
    trace.step(TraceOutcome.PRIMARY_SKIPPED, primary.id, why_not_free(primary, channel))
    if channel is Channel.CHAT and primary.eligible:
        if _waiting_for_primary(request, primary, now):
            return trace.decide()
        wait_started = any(step.outcome is TraceOutcome.WAITING_FOR_PRIMARY for step in request.trace)
        if request.wait_until is None and not wait_started and settings.primary_chat_wait_seconds > 0:
            seconds = settings.primary_chat_wait_seconds
            trace.step(TraceOutcome.WAITING_FOR_PRIMARY, primary.id, f"up to {seconds} s")
            return trace.decide(wait_for_id=primary.id, wait_until=now + timedelta(seconds=seconds))
        if request.waiting_for_id == primary.id and request.wait_until is not None:
            waited = int((request.wait_until - request.created_at).total_seconds())
            trace.step(TraceOutcome.WAIT_ENDED, primary.id, f"waited {waited} s")
    return None


def _chosen(chosen: Counsellor, channel: Channel, free: int, trace: _Trace) -> None:
    last = chosen.last_assigned_at(channel)
    idle = f"last assigned {last.isoformat()}" if last else "never assigned"
    detail = f"holds {chosen.load(channel)} {channel.value.lower()} requests, {idle}; {free} free"
    trace.step(TraceOutcome.CANDIDATE_CHOSEN, chosen.id, detail)


def route_request(
    request: Request,
    primary: Counsellor | None,
    candidates: Sequence[Counsellor],
    fallback: Counsellor | None,
    settings: Settings,
    now: datetime,
) -> RoutingDecision:
    """Decide where a new or queued request goes (routing.md, rules 1 to 4), with its trace.

    A primary set by this very request who let it lapse counts as no primary: the next
    counsellor who takes it becomes primary instead.
    """
    channel, trace = request.channel, _Trace(now)
    provisional = primary is not None and request.set_primary and primary.id in request.excluded_ids
    if primary is not None and not provisional:
        to_primary = _to_primary(request, primary, settings, trace)
        if to_primary is not None:
            return to_primary
    others = [
        c for c in candidates if c.id not in request.excluded_ids and (primary is None or c.id != primary.id)
    ]
    primary_id = None if provisional or primary is None else primary.id
    free = ranked(others, channel, primary_id)
    if free:
        chosen, alternatives = free[0], tuple(c.id for c in free[1:])
        _chosen(chosen, channel, len(free), trace)
        if primary_id is not None:
            return trace.decide(
                counsellor_id=chosen.id, reason=RoutingReason.PRIMARY_UNAVAILABLE, alternatives=alternatives
            )
        return trace.decide(
            counsellor_id=chosen.id,
            reason=RoutingReason.FIRST_REQUEST,
            becomes_primary=True,
            alternatives=alternatives,
        )
    if channel is Channel.MAIL and fallback is not None and fallback_takes(fallback):
        trace.step(TraceOutcome.FALLBACK_USED, fallback.id, "nobody free for mail")
        return trace.decide(
            counsellor_id=fallback.id, reason=RoutingReason.FALLBACK_COUNSELLOR, checked=False
        )
    trace.step(TraceOutcome.QUEUED, None, f"nobody free for {channel.value.lower()}")
    return trace.decide()


def fallback_takes(fallback: Counsellor) -> bool:
    """The fallback counsellor takes mail whatever their capacity, unless limited to own clients."""
    return fallback.eligible and not fallback.only_own_clients

"""The routing policy (routing.md): who is free, who is chosen, where a request goes.

Pure functions over snapshots. The database adapter mirrors `chat_free`/`mail_free`
in SQL to find candidates with an index and to claim capacity atomically; a test
checks that both agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.model import (
    Channel,
    Counsellor,
    MailAvailability,
    OnlineStatus,
    Request,
    RoutingReason,
    Settings,
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


def choose_counsellor(
    candidates: Iterable[Counsellor], channel: Channel, primary_id: int | None
) -> Counsellor | None:
    """The free counsellor rule 3 picks among `candidates`, or None."""
    free = [c for c in candidates if may_take(c, channel, primary_id)]
    return min(free, key=lambda c: choice_key(c, channel), default=None)


@dataclass(frozen=True)
class RoutingDecision:
    """Where a request goes. `checked` claims capacity only while still free."""

    counsellor_id: int | None = None
    reason: RoutingReason | None = None
    becomes_primary: bool = False
    checked: bool = True
    wait_for_id: int | None = None
    wait_until: datetime | None = None

    @property
    def assigns(self) -> bool:
        return self.counsellor_id is not None


QUEUE = RoutingDecision()


def _waiting_for_primary(request: Request, primary: Counsellor, now: datetime) -> bool:
    return (
        request.waiting_for_id == primary.id and request.wait_until is not None and request.wait_until > now
    )


def route_request(
    request: Request,
    primary: Counsellor | None,
    candidates: Sequence[Counsellor],
    fallback: Counsellor | None,
    settings: Settings,
    now: datetime,
) -> RoutingDecision:
    """Decide where a new or queued request goes (routing.md, rules 1 to 4)."""
    channel = request.channel
    if primary is not None:
        if primary_takes(primary, channel):
            return RoutingDecision(
                primary.id, RoutingReason.PRIMARY_COUNSELLOR, checked=channel is Channel.CHAT
            )
        if channel is Channel.CHAT and primary.eligible:
            if _waiting_for_primary(request, primary, now):
                return QUEUE
            if request.wait_until is None and settings.primary_chat_wait_seconds > 0:
                until = now + timedelta(seconds=settings.primary_chat_wait_seconds)
                return RoutingDecision(wait_for_id=primary.id, wait_until=until)
        others = [c for c in candidates if c.id != primary.id]
        chosen = choose_counsellor(others, channel, primary.id)
        if chosen is not None:
            return RoutingDecision(chosen.id, RoutingReason.PRIMARY_UNAVAILABLE)
    else:
        chosen = choose_counsellor(candidates, channel, None)
        if chosen is not None:
            return RoutingDecision(chosen.id, RoutingReason.FIRST_REQUEST, becomes_primary=True)
    if channel is Channel.MAIL and fallback is not None and fallback_takes(fallback):
        return RoutingDecision(fallback.id, RoutingReason.FALLBACK_COUNSELLOR, checked=False)
    return QUEUE


def fallback_takes(fallback: Counsellor) -> bool:
    """The fallback counsellor takes mail whatever their capacity, unless limited to own clients."""
    return fallback.eligible and not fallback.only_own_clients

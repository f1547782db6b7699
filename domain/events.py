"""Events published after a change commits; subscriptions are fed from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.model import Counsellor, PrimaryCounsellorChange, Request, Settings


@dataclass(frozen=True)
class CounsellorStateChanged:
    """A counsellor's online status, absence, capacities, loads or mail availability changed."""

    counsellor: Counsellor


@dataclass(frozen=True)
class RequestChanged:
    """A request was created, routed or changed status. `assigned` marks a routing to a counsellor."""

    request: Request
    assigned: bool = False


@dataclass(frozen=True)
class PrimaryCounsellorChanged:
    """A client's primary counsellor changed. `visible_to` lists counsellors who could see the client."""

    change: PrimaryCounsellorChange
    visible_to: frozenset[int] = frozenset()


@dataclass(frozen=True)
class SessionsEnded:
    """Sessions of an account ended: every one (password change, deactivation, erasure), or only
    the one of `token_id` (logout). Open subscriptions of those sessions close."""

    counsellor_id: int | None = None
    client_id: int | None = None
    token_id: str | None = None


@dataclass(frozen=True)
class SettingsChanged:
    """The routing settings changed (availability depends on the fallback and the primary's wait)."""

    settings: Settings


@dataclass(frozen=True)
class StateMayBeStale:
    """Events may have been lost (the bus reconnected, or a subscriber fell behind): re-read the state.

    `since`: no event of a change made before then was lost (the gap began then); None when unknown.
    Subscriptions catch up from the database from then on (domain/use_cases/catch_up.py).
    """

    since: datetime | None = None


Event = (
    CounsellorStateChanged
    | RequestChanged
    | PrimaryCounsellorChanged
    | SessionsEnded
    | SettingsChanged
    | StateMayBeStale
)


def occurred_at(event: Event) -> datetime | None:
    """When the change behind an event was made (its transaction's time), where the event says."""
    if isinstance(event, RequestChanged):
        return event.request.updated_at
    if isinstance(event, PrimaryCounsellorChanged):
        return event.change.changed_at
    if isinstance(event, StateMayBeStale):
        return event.since
    return None

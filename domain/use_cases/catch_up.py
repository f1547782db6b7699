"""Catch-up: what a subscriber missed, read from the database (routing.md: "an event lost in
transit must never leave a request undelivered"; docs/routing.md, "Catch-up").

The bus loses events: Redis restarts, a subscriber's queue overflows, a publish times out. The bus
then tells each subscriber from when it may have missed something (`StateMayBeStale.since`), and a
client that lost its connection says it itself (`since` of requestAssigned, requestUpdated and
primaryCounsellorChanged). Either way the subscription sends first what changed since then:

- requestAssigned: the viewer's assignments made since then, in their current state;
- requestUpdated: each visible request changed since then, once, in its current state (the
  states in between are not kept, so they are not replayed);
- primaryCounsellorChanged: each visible history entry made since then.

Oldest first, at most CATCH_UP_LIMIT items; a client given that many resubscribes with `since` set
to the last one's time (updatedAt, assignedAt, changedAt) for the rest. Delivery is at least once:
`Delivered` keeps a subscription from sending an item it already sent, or an older state after a
newer one, as long as it remembers the item (the last DELIVERED_MEMORY items).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime, timedelta

from domain.errors import BadUserInput
from domain.model import PrimaryCounsellorChange, Request, Viewer
from domain.use_cases import Deps
from domain.visibility import require_authenticated, require_staff

CATCH_UP_LIMIT = 500
DELIVERED_MEMORY = 2 * CATCH_UP_LIMIT
# A change's time is taken when its transaction starts, and its event leaves after the commit: a
# subscription without `since` also catches up on changes this much older than itself.
SUBSCRIBE_SLACK = timedelta(seconds=5)


def requested_since(since: datetime | None, field: str = "since") -> datetime | None:
    """A client's `since`: a moment with its offset (a local time would be read in the wrong zone)."""
    if since is not None and since.utcoffset() is None:
        raise BadUserInput(f"{field} needs a time zone offset (Z or +00:00).", field=field)
    return since


def floor(since: datetime | None, subscribed_at: datetime) -> datetime:
    """The earliest change a subscription is ever sent: its `since`, or a little before it started."""
    return since if since is not None else subscribed_at - SUBSCRIBE_SLACK


def gap_start(gap_began: datetime | None, subscription_floor: datetime) -> datetime:
    """From when to catch up after a bus gap: where it began, never before the subscription's floor
    (unknown: from the floor)."""
    return subscription_floor if gap_began is None else max(gap_began, subscription_floor)


class Delivered:
    """What one subscription sent, per item: a copy that is not newer is not sent again."""

    def __init__(self, memory: int = DELIVERED_MEMORY) -> None:
        self._memory = memory
        self._sent: OrderedDict[Hashable, tuple[datetime, Hashable]] = OrderedDict()

    def fresh(self, key: Hashable, stamp: datetime | None, version: Hashable = None) -> bool:
        """True, and noted, unless `key` was sent with a later stamp or with this stamp and version.

        The version tells apart changes made at the same instant (a test's fixed clock)."""
        if stamp is None:
            return True  # from a process that does not stamp its events: cannot tell, send
        last = self._sent.get(key)
        if last is not None and (stamp < last[0] or (stamp, version) == last):
            return False
        self._sent[key] = (stamp, version)
        self._sent.move_to_end(key)
        if len(self._sent) > self._memory:
            self._sent.popitem(last=False)
        return True

    def request(self, request: Request) -> bool:
        """A state of a request (requestUpdated)."""
        version = (request.status, request.counsellor_id, request.accepted_at, request.wait_until)
        return self.fresh(("request", request.id), request.updated_at, version)

    def assignment(self, request: Request) -> bool:
        """An assignment of a request (requestAssigned): once per assignment."""
        return self.fresh(("assigned", request.id), request.assigned_at)

    def change(self, change: PrimaryCounsellorChange) -> bool:
        """A history entry (primaryCounsellorChanged)."""
        return self.fresh(("change", change.id), change.changed_at)


async def assignments_since(
    deps: Deps, viewer: Viewer, since: datetime, delivered: Delivered
) -> list[Request]:
    """Requests assigned to the viewer at `since` or later that they hold (or held last, if closed
    or cancelled meanwhile), in their current state, not sent already."""
    me = require_staff(viewer)
    async with deps.uow(write=False) as uow:
        found = await uow.requests.assigned_to_since(me, since, CATCH_UP_LIMIT)
    return [request for request in found if delivered.assignment(request)]


async def request_changes_since(
    deps: Deps, viewer: Viewer, since: datetime, delivered: Delivered, request_id: int | None = None
) -> list[Request]:
    """Requests the viewer may see (only `request_id`, when given) created or changed at `since` or
    later, in their current state, not sent already."""
    require_authenticated(viewer)
    async with deps.uow(write=False) as uow:
        found = await uow.requests.visible_changed_since(viewer, since, CATCH_UP_LIMIT, request_id)
    return [request for request in found if delivered.request(request)]


async def primary_changes_since(
    deps: Deps, viewer: Viewer, since: datetime, delivered: Delivered, client_id: int | None = None
) -> list[PrimaryCounsellorChange]:
    """Primary changes at `since` or later the viewer may be sent (of one client when given), not
    sent already."""
    require_staff(viewer)
    async with deps.uow(write=False) as uow:
        found = await uow.history.visible_since(viewer, since, CATCH_UP_LIMIT, client_id)
    return [change for change in found if delivered.change(change)]

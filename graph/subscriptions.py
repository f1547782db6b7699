"""Subscriptions: current state first where the contract says so, then each visible change.

Each subscriber listens on the bus before reading the current state (so no change falls in
between). Sessions are pushed, not polled: an event that ends the viewer's session (logout,
password change, deactivation, erasure) or the token's expiry ends the subscription, and nothing
is read from the database per event but what the subscriber is about to send. Availability comes
from the process's live view (graph/live.py), computed once per change for everyone alike. After a
bus gap, and first when given `since`, requestAssigned, requestUpdated and primaryCounsellorChanged
catch up from the database (domain/use_cases/catch_up.py); the state feeds send their current state
again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Annotated

import strawberry

from domain.errors import DomainError, NotFound, Unauthenticated
from domain.events import (
    Event,
    PrimaryCounsellorChanged,
    RequestChanged,
    StateMayBeStale,
)
from domain.live import (
    EVERY_PRIMARY_CHANGE,
    EVERY_REQUEST,
    Topic,
    assigned_topic,
    client_topic,
    primary_seen_topic,
    request_topic,
    session_after,
    session_topics,
)
from domain.model import Request as DomainRequest
from domain.model import RequestStatus, Viewer
from domain.use_cases import Deps, catch_up, clients, reads, requests
from domain.visibility import require_authenticated, require_staff
from graph import ids
from graph.context import GraphInfo
from graph.errors import domain_error
from graph.feeds import ENDED_SESSION, EXPIRED, AvailabilityFeed, ColleagueFeed, end_session
from graph.live import live_view
from graph.types.availability import Availability
from graph.types.counsellor import Counsellor
from graph.types.history import PrimaryCounsellorChange
from graph.types.request import Request


async def _viewer(info: GraphInfo) -> Viewer:
    try:
        return await info.context.viewer()
    except DomainError as exc:
        raise domain_error(exc) from exc


def _seconds_left(viewer: Viewer, now: datetime) -> float | None:
    return None if viewer.expires_at is None else max((viewer.expires_at - now).total_seconds(), 0.0)


async def changes(
    info: GraphInfo, viewer: Viewer, events: AsyncIterator[Event]
) -> AsyncIterator[tuple[Viewer, Event]]:
    """Events with the viewer as the events left it; ends when its session ends (closing the
    websocket with 4401) or its token lapses.

    While it runs, a counsellor's subscription counts as a sign of life of their session.
    """
    keeper = info.context.state.presence
    holding = keeper.holding(viewer.counsellor_id) if keeper is not None else contextlib.nullcontext()
    async with holding:
        async for item in _checked(info, viewer, events):
            yield item


async def _checked(
    info: GraphInfo, viewer: Viewer, events: AsyncIterator[Event]
) -> AsyncIterator[tuple[Viewer, Event]]:
    # The session may have ended between reading it and listening: read it once more, listening.
    current: Viewer | None = await _session(info, viewer)
    while current is not None:
        viewer = current
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow an unsubscribe.
            async with asyncio.timeout(_seconds_left(viewer, datetime.now(UTC))):
                event = await anext(events)
        except TimeoutError:
            await end_session(info.context, EXPIRED)
            return
        except StopAsyncIteration:
            return
        if isinstance(event, StateMayBeStale):
            # Events were lost, perhaps one that ended this session: read it, once per gap.
            current = await _session(info, viewer)
        else:
            current = session_after(viewer, event)
            if current is None:
                await end_session(info.context, ENDED_SESSION)
        if current is not None:
            info.context.fresh_loaders()
            yield current, event


async def _session(info: GraphInfo, viewer: Viewer) -> Viewer | None:
    """The viewer as the database has it now (None, the websocket closed, if the session ended)."""
    if viewer.is_anonymous:
        return viewer
    try:
        return await info.context.viewer()
    except Unauthenticated as exc:
        await end_session(info.context, exc.message)
        return None


async def _exists(deps: Deps, client_id: int) -> bool:
    return client_id in await reads.clients_by_id(deps, [client_id])


async def _with_texts(info: GraphInfo, viewer: Viewer, snapshot: DomainRequest) -> DomainRequest | None:
    """The event's snapshot with the texts the bus does not carry; None if the viewer may not see it."""
    try:
        stored = await requests.get_request(info.context.deps, viewer, snapshot.id)
    except NotFound:
        return None
    return replace(snapshot, message=stored.message, subject=stored.subject, trace=stored.trace)


def _primary_topics(viewer: Viewer, target: int | None) -> tuple[Topic, ...]:
    """One client's changes; else all for admins, those of clients they could see for counsellors."""
    if target is not None:
        found = client_topic(target)
    elif viewer.is_admin:
        found = EVERY_PRIMARY_CHANGE
    else:
        assert viewer.counsellor_id is not None
        found = primary_seen_topic(viewer.counsellor_id)
    return (found, *session_topics(viewer))


def _request_topics(viewer: Viewer, target: int | None) -> tuple[Topic, ...]:
    """One request's changes; else a client's own, or every request for staff (then filtered)."""
    if target is not None:
        found = request_topic(target)
    elif viewer.client_id is not None:
        found = client_topic(viewer.client_id)
    else:
        found = EVERY_REQUEST
    return (found, *session_topics(viewer))


SINCE = (
    "Send first what changed since then (a client that reconnects: the latest time it saw); "
    f"at most {catch_up.CATCH_UP_LIMIT}, oldest first."
)


class _CatchUp:
    """One subscription's catch-up: from its `since` when given, and after each bus gap."""

    def __init__(self, info: GraphInfo, since: datetime | None) -> None:
        self.since = catch_up.requested_since(since)
        self.floor = catch_up.floor(self.since, info.context.deps.clock.now())
        self.delivered = catch_up.Delivered()

    def after(self, gap: StateMayBeStale) -> datetime:
        return catch_up.gap_start(gap.since, self.floor)


async def _assigned_since(info: GraphInfo, viewer: Viewer, since: datetime, seen: _CatchUp) -> list[Request]:
    found = await catch_up.assignments_since(info.context.deps, viewer, since, seen.delivered)
    return [Request.of(request, viewer) for request in found]


async def _updated_since(
    info: GraphInfo, viewer: Viewer, since: datetime, seen: _CatchUp, target: int | None
) -> list[Request]:
    found = await catch_up.request_changes_since(info.context.deps, viewer, since, seen.delivered, target)
    return [Request.of(request, viewer) for request in found]


async def _primaries_since(
    info: GraphInfo, viewer: Viewer, since: datetime, seen: _CatchUp, target: int | None
) -> list[PrimaryCounsellorChange]:
    found = await catch_up.primary_changes_since(info.context.deps, viewer, since, seen.delivered, target)
    return [PrimaryCounsellorChange.of(change, viewer) for change in found]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Staff: a counsellor's state each time their online status, absence, capacity, chat load or mail load/availability changes; the current state of each matching counsellor first."
    )
    async def counsellor_availability_changed(
        self, info: GraphInfo, counsellor_id: strawberry.ID | None = None
    ) -> AsyncGenerator[Counsellor, None]:
        viewer = await _viewer(info)
        try:
            require_staff(viewer)
            target = ids.decode_optional(counsellor_id, "Counsellor", "counsellorId")
            async for counsellor in ColleagueFeed(info, viewer, target).follow():
                yield counsellor
        except DomainError as exc:
            raise domain_error(exc) from exc

    @strawberry.subscription(
        description="Clients and anonymous visitors: the viewer's availability, now and after every change that alters it."
    )
    async def availability_changed(self, info: GraphInfo) -> AsyncGenerator[Availability, None]:
        viewer = await _viewer(info)
        try:
            async for availability in AvailabilityFeed(info, viewer).follow():
                yield availability
        except DomainError as exc:
            raise domain_error(exc) from exc

    @strawberry.subscription(description="Counsellors: each request routed to them, as it is routed.")
    async def request_assigned(
        self,
        info: GraphInfo,
        since: Annotated[datetime | None, strawberry.argument(description=SINCE)] = None,
    ) -> AsyncGenerator[Request, None]:
        viewer = await _viewer(info)
        try:
            me = require_staff(viewer)
            seen = _CatchUp(info, since)
            topics = (assigned_topic(me), *session_topics(viewer))
            async with info.context.state.bus.subscribe(topics) as events:
                if seen.since is not None:
                    for missed in await _assigned_since(info, viewer, seen.since, seen):
                        yield missed
                async for viewer_now, event in changes(info, viewer, events):
                    if isinstance(event, StateMayBeStale):
                        for missed in await _assigned_since(info, viewer_now, seen.after(event), seen):
                            yield missed
                    elif (
                        isinstance(event, RequestChanged)
                        and event.assigned
                        and event.request.counsellor_id == me
                    ):
                        found = await _with_texts(info, viewer_now, event.request)
                        if found is not None and seen.delivered.assignment(found):
                            yield Request.of(found, viewer_now)
        except DomainError as exc:
            raise domain_error(exc) from exc

    @strawberry.subscription(
        description="Staff: primary counsellor changes of the clients they may see (of one client when clientId is given)."
    )
    async def primary_counsellor_changed(
        self,
        info: GraphInfo,
        client_id: strawberry.ID | None = None,
        since: Annotated[datetime | None, strawberry.argument(description=SINCE)] = None,
    ) -> AsyncGenerator[PrimaryCounsellorChange, None]:
        viewer = await _viewer(info)
        deps = info.context.deps
        live = live_view(info.context.state)
        try:
            me = require_staff(viewer)
            target = ids.decode_optional(client_id, "Client", "clientId")
            seen = _CatchUp(info, since)
            if target is not None:
                await clients.get_client(info.context.deps, viewer, target)
            async with info.context.state.bus.subscribe(_primary_topics(viewer, target)) as events:
                if seen.since is not None:
                    for missed in await _primaries_since(info, viewer, seen.since, seen, target):
                        yield missed
                async for viewer_now, event in changes(info, viewer, events):
                    if target is None and viewer_now.is_admin:  # promoted on the way: sees all now
                        events.listen(EVERY_PRIMARY_CHANGE)
                    if isinstance(event, StateMayBeStale):
                        for missed in await _primaries_since(
                            info, viewer_now, seen.after(event), seen, target
                        ):
                            yield missed
                        continue
                    if not isinstance(event, PrimaryCounsellorChanged) or target not in (
                        None,
                        event.change.client_id,
                    ):
                        continue
                    whose = event.change.client_id
                    known = await live.per_event.once(event, whose, partial(_exists, deps, whose))
                    visible = viewer_now.is_admin or me in event.visible_to
                    if known and visible and seen.delivered.change(event.change):
                        yield PrimaryCounsellorChange.of(event.change, viewer_now)
        except DomainError as exc:
            raise domain_error(exc) from exc

    @strawberry.subscription(
        description="Each change (status, assignment) of the requests the viewer may see, of one request when id is given, whose current state comes first. A chat widget follows its queued request with it."
    )
    async def request_updated(
        self,
        info: GraphInfo,
        id: strawberry.ID | None = None,
        since: Annotated[datetime | None, strawberry.argument(description=SINCE)] = None,
    ) -> AsyncGenerator[Request, None]:
        viewer = await _viewer(info)
        deps = info.context.deps
        try:
            require_authenticated(viewer)
            target = ids.decode_optional(id, "Request", "id")
            seen = _CatchUp(info, since)
            async with info.context.state.bus.subscribe(_request_topics(viewer, target)) as events:
                if target is not None:  # its current state covers any `since`
                    current = await requests.get_request(deps, viewer, target)
                    seen.delivered.request(current)
                    yield Request.of(current, viewer)
                elif seen.since is not None:
                    for missed in await _updated_since(info, viewer, seen.since, seen, None):
                        yield missed
                async for viewer_now, event in changes(info, viewer, events):
                    if isinstance(event, StateMayBeStale):
                        for missed in await _updated_since(info, viewer_now, seen.after(event), seen, target):
                            yield missed
                            if target is not None and not missed.request.is_open:
                                return  # nothing will change any more
                        continue
                    if not isinstance(event, RequestChanged) or target not in (None, event.request.id):
                        continue
                    found = await _with_texts(info, viewer_now, event.request)
                    if found is None or not seen.delivered.request(found):
                        continue
                    yield Request.of(found, viewer_now)
                    if target is not None and event.request.status in (
                        RequestStatus.CLOSED,
                        RequestStatus.CANCELLED,
                    ):
                        return  # nothing will change any more
        except DomainError as exc:
            raise domain_error(exc) from exc

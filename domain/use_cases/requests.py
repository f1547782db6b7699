"""Requests: submit (routed at once), assign by hand, close, cancel, read."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain import validation
from domain.errors import BadUserInput, Conflict, Forbidden, RateLimited, Unauthenticated
from domain.events import RequestChanged
from domain.model import (
    AccountStatus,
    AssignmentSource,
    Channel,
    Request,
    RequestStatus,
    RoutingReason,
    Viewer,
)
from domain.ports import UnitOfWork
from domain.throttling import rate_limited, seconds_until
from domain.use_cases import Deps, audit
from domain.use_cases.routing import assign, make_primary, release, route
from domain.visibility import not_found, require_authenticated, require_client, require_staff, sees_request


async def submit_request(
    deps: Deps,
    viewer: Viewer,
    channel: Channel,
    message: str,
    subject: str | None,
    idempotency_key: str | None,
) -> Request:
    """A client's new chat or mail request, routed in the same transaction."""
    client_id = require_client(viewer)
    message = validation.text(message, "input.message", validation.MAX_MESSAGE)
    subject = validation.optional_text(subject, "input.subject", validation.MAX_SUBJECT)
    if idempotency_key is not None:
        idempotency_key = validation.text(
            idempotency_key, "input.idempotencyKey", validation.MAX_IDEMPOTENCY_KEY
        )
    async with deps.uow() as uow:
        client = await uow.clients.lock(client_id)
        if client is None:
            raise not_found("Client")
        if client.account_status is not AccountStatus.ACTIVE:
            # Erased or blocked after the token was checked: nothing of theirs may be stored now.
            blocked = client.account_status is AccountStatus.BLOCKED
            raise Unauthenticated("This account is blocked." if blocked else "The account is not active.")
        if idempotency_key is not None:
            earlier = await uow.requests.by_idempotency_key(client_id, idempotency_key)
            if earlier is not None:
                return _same_submission(earlier, channel, subject, message)
        now = deps.clock.now()
        await _within_limits(uow, deps, client_id, now)
        request = await uow.requests.add(
            Request(
                id=0,
                client_id=client_id,
                channel=channel,
                status=RequestStatus.QUEUED,
                message=message,
                subject=subject,
                created_at=now,
                idempotency_key=idempotency_key,
                updated_at=now,
            )
        )
        await route(uow, request, client, now)
        if request.status is RequestStatus.QUEUED:
            await uow.requests.save_transition(request)  # its trace and any wait for the primary
            uow.record(RequestChanged(request))
        await uow.commit()
    return request


async def _within_limits(uow: UnitOfWork, deps: Deps, client_id: int, now: datetime) -> None:
    """A flood of requests from one client must not fill every counsellor's slots."""
    limits = deps.limits
    if await uow.requests.count_of_client(client_id, None, open_only=True) >= limits.open_requests_per_client:
        raise RateLimited(
            f"At most {limits.open_requests_per_client} open requests at a time; close or cancel one first."
        )
    # Parallel submits of one client cannot both pass: the caller holds the client's row.
    hour_ago = now - timedelta(hours=1)
    if await uow.requests.count_of_client(client_id, hour_ago, open_only=False) >= limits.submits_per_hour:
        oldest = await uow.requests.first_created_since(client_id, hour_ago) or hour_ago
        wait = seconds_until(oldest + timedelta(hours=1), now)
        raise rate_limited(f"At most {limits.submits_per_hour} requests an hour", wait)


def _same_submission(earlier: Request, channel: Channel, subject: str | None, message: str) -> Request:
    if (earlier.channel, earlier.subject, earlier.message) != (channel, subject, message):
        raise Conflict("This idempotencyKey was used for a different request.", field="input.idempotencyKey")
    return earlier


async def visible_request(uow: UnitOfWork, viewer: Viewer, request_id: int, *, lock: bool = False) -> Request:
    request = await (uow.requests.lock(request_id) if lock else uow.requests.get(request_id))
    if request is None:
        raise not_found("Request")
    client = await uow.clients.get(request.client_id)
    primary_id = client.primary_counsellor_id if client else None
    handled = viewer.counsellor_id is not None and await uow.requests.handled_by(
        request_id, viewer.counsellor_id
    )
    if not sees_request(viewer, request, primary_id, handled):
        raise not_found("Request")
    return request


async def get_request(deps: Deps, viewer: Viewer, request_id: int) -> Request:
    """The request if the viewer may see it, else NOT_FOUND."""
    async with deps.uow(write=False) as uow:
        return await visible_request(uow, viewer, request_id)


async def assign_request(deps: Deps, viewer: Viewer, request_id: int, counsellor_id: int) -> Request:
    """Staff hand a QUEUED or ASSIGNED request to an eligible counsellor, whatever their capacity."""
    me = require_staff(viewer)
    async with deps.uow() as uow:
        found = await visible_request(uow, viewer, request_id)
        client = await uow.clients.lock(found.client_id)
        request = await visible_request(uow, viewer, request_id, lock=True)
        if client is None:
            raise not_found("Request")
        request.require_assignable()  # CONFLICT comes before any objection to the counsellor
        target = await uow.counsellors.get(counsellor_id)
        if target is None or not target.eligible:
            raise BadUserInput("The counsellor must be active and not absent.", field="counsellorId")
        if request.holder_id == counsellor_id:
            return request
        now = deps.clock.now()
        holder = await uow.counsellors.claim(counsellor_id, request.channel, now, checked=False)
        assert holder is not None  # unchecked claims always succeed on an existing counsellor
        if client.primary_counsellor_id is None:
            await make_primary(uow, client, counsellor_id, AssignmentSource.MANUAL, now, changed_by_id=me)
        await audit.record(
            uow, deps, viewer, "REQUEST_ASSIGNED", "Request", request.id, f"to counsellor {counsellor_id}"
        )
        await assign(uow, request, holder, RoutingReason.MANUAL, now)
        await uow.commit()
    await deps.dispatch()
    return request


async def close_request(deps: Deps, viewer: Viewer, request_id: int) -> Request:
    """The holding counsellor or an admin closes an ASSIGNED request, freeing what it held."""
    me = require_staff(viewer)
    async with deps.uow() as uow:
        request = await visible_request(uow, viewer, request_id, lock=True)
        # The state first: closing a closed request is CONFLICT whoever asks.
        holder = request.close(deps.clock.now())
        if not viewer.is_admin and holder != me:
            raise Forbidden("Only the counsellor holding the request or an admin may close it.", field="id")
        await _finish(uow, request, holder)
    await deps.dispatch()
    return request


async def cancel_request(deps: Deps, viewer: Viewer, request_id: int) -> Request:
    """The client cancels their QUEUED request; staff who see it a QUEUED or ASSIGNED one."""
    require_authenticated(viewer)
    async with deps.uow() as uow:
        request = await visible_request(uow, viewer, request_id, lock=True)
        holder = request.cancel(deps.clock.now(), by_client=viewer.is_client)
        await _finish(uow, request, holder)
    await deps.dispatch()
    return request


async def _finish(uow: UnitOfWork, request: Request, holder: int | None) -> None:
    """Store a close or cancel of the locked `request` and free what it held."""
    await release(uow, holder, request.channel)
    await uow.requests.save_transition(request)
    uow.record(RequestChanged(request))
    await uow.commit()

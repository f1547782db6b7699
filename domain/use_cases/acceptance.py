"""Accepting chats, and taking back the ones nobody accepted in time."""

from __future__ import annotations

from datetime import timedelta

from domain.errors import Forbidden
from domain.events import RequestChanged
from domain.model import Request, Viewer
from domain.use_cases import Deps
from domain.use_cases.requests import visible_request
from domain.use_cases.routing import handed_over, release, route
from domain.visibility import require_staff

BATCH = 100


async def accept_request(deps: Deps, viewer: Viewer, request_id: int) -> Request:
    """The counsellor holding an assigned request accepts it (it will not be taken back)."""
    me = require_staff(viewer)
    async with deps.uow() as uow:
        request = await visible_request(uow, viewer, request_id, lock=True)
        # The state first: accepting a closed request is CONFLICT whoever asks.
        accepted = request.accept(deps.clock.now())
        if request.holder_id != me:
            raise Forbidden("Only the counsellor holding the request may accept it.", field="id")
        if accepted:
            await uow.requests.save_transition(request)
            uow.record(RequestChanged(request))
            await uow.commit()
    return request


async def take_back_unaccepted(deps: Deps) -> int:
    """Re-route chats not accepted within acceptTimeoutSeconds, never to the same counsellor again.

    Each overdue chat is claimed in the database, so with several processes it is taken back once.
    """
    now = deps.clock.now()
    async with deps.uow(write=False) as uow:
        timeout = (await uow.settings.get()).accept_timeout_seconds
        if timeout is None:
            return 0
        deadline = now - timedelta(seconds=timeout)
        overdue = await uow.requests.unaccepted(deadline, BATCH)
    taken = 0
    for found in overdue:
        async with deps.uow() as uow:
            client = await uow.clients.lock(found.client_id)
            request = await uow.requests.lock_unaccepted(found.id, deadline)
            if client is None or request is None or request.counsellor_id is None:
                continue
            await release(uow, request.return_to_queue(now, timeout), request.channel)
            holder = await route(uow, request, client, now)
            await uow.requests.save_transition(request)
            if holder is not None:
                await handed_over(uow, request, holder)
            else:
                uow.record(RequestChanged(request))
            await uow.commit()
            taken += 1
    return taken

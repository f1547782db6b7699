"""Reads behind API fields: the client overview, and batched reads behind nested fields (one query
per batch, never one per row)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from domain.model import Client, Counsellor, PrimaryCounsellorChange, Request, Viewer
from domain.ports import ClientPage, ClientQuery, Page, RequestQuery
from domain.use_cases import Deps
from domain.use_cases.accounts import Caller, viewer_in
from domain.visibility import require_staff


async def counsellors_by_id(deps: Deps, ids: Sequence[int]) -> dict[int, Counsellor]:
    async with deps.uow(write=False) as uow:
        return await uow.counsellors.get_many(ids)


async def clients_by_id(deps: Deps, ids: Sequence[int]) -> dict[int, Client]:
    async with deps.uow(write=False) as uow:
        return await uow.clients.get_many(ids)


async def holders_by_client(deps: Deps, ids: Sequence[int]) -> dict[int, set[int]]:
    """Counsellors holding an ASSIGNED request, per client."""
    async with deps.uow(write=False) as uow:
        return await uow.clients.holders_of(ids)


async def histories(deps: Deps, ids: Sequence[int]) -> dict[int, list[PrimaryCounsellorChange]]:
    async with deps.uow(write=False) as uow:
        return await uow.history.for_clients(ids)


async def request_page(
    deps: Deps, viewer: Viewer, query: RequestQuery, first: int, after: str | None
) -> Page[Request]:
    """The requests the viewer may see, newest first."""
    async with deps.uow(write=False) as uow:
        return await uow.requests.visible_page(viewer, query, first, after)


async def first_request_pages(
    deps: Deps, viewer: Viewer, client_ids: Sequence[int], first: int
) -> dict[int, Page[Request]]:
    """The first page of visible requests of many clients at once (the client overview)."""
    async with deps.uow(write=False) as uow:
        return await uow.requests.visible_first_pages(viewer, client_ids, first)


async def client_overview(
    deps: Deps, caller: Caller, query: Callable[[int], tuple[ClientQuery, int]], after: str | None
) -> tuple[Viewer, ClientPage]:
    """Staff: a page of the clients the caller may see (the client overview, the member list),
    with the session checked in the same transaction. `query` gives the query and the page size
    for the viewer's counsellor id once the session is known to be theirs (a filter may say "my
    clients"), so the arguments' errors come after the session's, as for every other field."""
    async with deps.uow(write=False) as uow:
        viewer = await viewer_in(uow, caller)
        me = require_staff(viewer)
        found, first = query(me)
        return viewer, await uow.clients.visible_page(viewer, found, first, after)


async def client_page_unchecked(
    deps: Deps, viewer: Viewer, query: ClientQuery, first: int, after: str | None
) -> ClientPage:
    """Clients the viewer may see (caller decided the viewer may list at all)."""
    async with deps.uow(write=False) as uow:
        return await uow.clients.visible_page(viewer, query, first, after)


async def open_request_counts(deps: Deps, viewer: Viewer, ids: Sequence[int]) -> dict[int, int]:
    """Open requests per client that the viewer may see (clients not read with the overview)."""
    async with deps.uow(write=False) as uow:
        return await uow.clients.open_request_counts(viewer, ids)


async def last_request_times(deps: Deps, ids: Sequence[int]) -> dict[int, datetime | None]:
    async with deps.uow(write=False) as uow:
        return await uow.clients.last_request_times(ids)


async def primary_client_counts(deps: Deps, ids: Sequence[int]) -> dict[int, int]:
    async with deps.uow(write=False) as uow:
        return await uow.counsellors.primary_client_counts(ids)

"""Query resolvers: read arguments, call one use case, map the result."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from domain import validation
from domain.errors import BadUserInput, NotFound
from domain.model import Role as DomainRole
from domain.model import Viewer as DomainViewer
from domain.ports import ClientOrder, ClientQuery, RequestQuery, StaffQuery
from domain.use_cases import audit, clients, counsellors, documents, reads, requests
from domain.use_cases import availability as availability_use_case
from domain.use_cases.availability import AvailabilityView
from domain.visibility import require_authenticated
from graph import ids
from graph.context import GraphInfo
from graph.folder_resolvers import FolderQueries, folder_node
from graph.inputs import ClientFilter, CounsellorFilter, RequestFilter, StaffFilter
from graph.paging import page_size
from graph.types.audit import AuditEntryConnection, audit_connection
from graph.types.availability import Availability
from graph.types.client import Client, ClientConnection, client_connection_of
from graph.types.counsellor import Counsellor, CounsellorConnection, CounsellorPresence, counsellor_connection
from graph.types.document import Document
from graph.types.node import Node
from graph.types.request import Request, RequestConnection, request_connection
from graph.types.session import Viewer
from graph.types.settings import Settings


async def viewer_of(info: GraphInfo, viewer: DomainViewer) -> Viewer:
    """The `me` object of a signed-in viewer."""
    assert viewer.role is not None
    deps = info.context.deps
    if viewer.role is DomainRole.CLIENT and viewer.client_id is not None:
        client = await clients.get_client(deps, viewer, viewer.client_id)
        return Viewer(role=viewer.role, counsellor=None, client=Client.checked(client, viewer, info.context))
    assert viewer.counsellor_id is not None
    counsellor = await counsellors.get_counsellor(deps, viewer, viewer.counsellor_id)
    return Viewer(role=viewer.role, counsellor=Counsellor.of(counsellor, viewer), client=None)


def availability_of(found: AvailabilityView, viewer: DomainViewer) -> Availability:
    presence = CounsellorPresence.of(found.primary) if found.primary else None
    queued = Request.of(found.queued, viewer) if found.queued else None
    return Availability(
        chat_available=found.chat_available,
        mail_available=found.mail_available,
        primary_counsellor=presence,
        queued_request=queued,
    )


def _client_query(viewer_id: int | None, f: ClientFilter | None, order: ClientOrder) -> ClientQuery:
    if f is None:
        return ClientQuery(order=order)
    primary = ids.decode_optional(f.primary_counsellor_id, "Counsellor", "filter.primaryCounsellorId")
    if f.primary_is_me:
        primary = viewer_id
    search = validation.optional_text(f.search, "filter.search", validation.MAX_SEARCH)
    return ClientQuery(
        primary,
        f.unassigned,
        search,
        f.account_status,
        f.primary_inactive,
        f.invitation_status,
        _aware(f.last_login_after, "filter.lastLoginAfter"),
        _aware(f.last_login_before, "filter.lastLoginBefore"),
        order,
    )


def _aware(moment: datetime | None, field: str) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise BadUserInput("Give the time with its offset, e.g. 2026-12-01T08:00:00Z.", field=field)
    return moment


def _staff_query(f: StaffFilter | None) -> StaffQuery:
    if f is None:
        return StaffQuery()
    search = validation.optional_text(f.search, "filter.search", validation.MAX_SEARCH)
    return StaffQuery(search, f.role, f.active, f.online_status)


@strawberry.type
class Query(FolderQueries):
    @strawberry.field(description="Null when anonymous.")
    async def me(self, info: GraphInfo) -> Viewer | None:
        viewer = await info.context.viewer()
        return None if viewer.is_anonymous else await viewer_of(info, viewer)

    @strawberry.field
    async def node(self, info: GraphInfo, id: strawberry.ID) -> Node | None:
        kind, row_id = ids.decode_any(id)
        viewer = await info.context.viewer()
        require_authenticated(viewer)
        deps = info.context.deps
        if kind == "Counsellor":
            return Counsellor.of(await counsellors.get_counsellor(deps, viewer, row_id), viewer)
        if kind == "Client":
            return Client.checked(await clients.get_client(deps, viewer, row_id), viewer, info.context)
        if kind == "Request":
            return Request.of(await requests.get_request(deps, viewer, row_id), viewer)
        if (found := await folder_node(info, viewer, kind, row_id)) is not None:
            return found
        if kind == "Document":
            return Document.of(await documents.get_document(deps, viewer, row_id), viewer)
        raise NotFound("id names nothing that node() finds.", field="id")

    @strawberry.field
    async def client(self, info: GraphInfo, id: strawberry.ID) -> Client | None:
        viewer = await info.context.viewer()
        require_authenticated(viewer)
        found = await clients.get_client(info.context.deps, viewer, ids.decode(id, "Client"))
        return Client.checked(found, viewer, info.context)

    @strawberry.field(
        description="Staff: the client overview (Klientenübersicht), only the clients the viewer may see, by display name."
    )
    async def clients(
        self,
        info: GraphInfo,
        filter: ClientFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        order_by: Annotated[
            ClientOrder, strawberry.argument(description="The member list's order; ties by display name.")
        ] = ClientOrder.DISPLAY_NAME,
    ) -> ClientConnection:
        viewer, page = await reads.client_overview(
            info.context.deps,
            info.context.caller(),
            lambda me: (_client_query(me, filter, order_by), page_size(first)),
            after,
        )
        info.context.checked(viewer)
        return client_connection_of(info, viewer, page, after)

    @strawberry.field(
        description="Staff: counsellors and admins, by display name, for member management (Beratendenverwaltung)."
    )
    async def staff(
        self,
        info: GraphInfo,
        filter: StaffFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> CounsellorConnection:
        viewer = await info.context.viewer()
        query = _staff_query(filter)
        page = await counsellors.staff_page(info.context.deps, viewer, query, page_size(first), after)
        return counsellor_connection(page, viewer, after)

    @strawberry.field
    async def counsellor(self, info: GraphInfo, id: strawberry.ID) -> Counsellor | None:
        viewer = await info.context.viewer()
        require_authenticated(viewer)
        found = await counsellors.get_counsellor(info.context.deps, viewer, ids.decode(id, "Counsellor"))
        return Counsellor.of(found, viewer)

    @strawberry.field(description="Staff: counsellors by display name.")
    async def counsellors(self, info: GraphInfo, filter: CounsellorFilter | None = None) -> list[Counsellor]:
        viewer = await info.context.viewer()
        status, active = (filter.online_status, filter.active) if filter else (None, None)
        found = await counsellors.list_counsellors(info.context.deps, viewer, status, active)
        return [Counsellor.of(c, viewer) for c in found]

    @strawberry.field
    async def request(self, info: GraphInfo, id: strawberry.ID) -> Request | None:
        viewer = await info.context.viewer()
        require_authenticated(viewer)
        found = await requests.get_request(info.context.deps, viewer, ids.decode(id, "Request"))
        return Request.of(found, viewer)

    @strawberry.field(description="The requests the viewer may see, newest first.")
    async def requests(
        self,
        info: GraphInfo,
        filter: RequestFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> RequestConnection:
        viewer = await info.context.viewer()
        require_authenticated(viewer)
        query = RequestQuery()
        if filter is not None:
            counsellor_id = ids.decode_optional(filter.counsellor_id, "Counsellor", "filter.counsellorId")
            if filter.assigned_to_me:
                counsellor_id = viewer.counsellor_id if viewer.is_staff else -1
            query = RequestQuery(filter.channel, filter.status, counsellor_id)
        return await request_connection(info, viewer, query, first, after)

    @strawberry.field
    async def availability(self, info: GraphInfo) -> Availability:
        viewer = await info.context.viewer()
        return availability_of(await availability_use_case.availability(info.context.deps, viewer), viewer)

    @strawberry.field(description="Admins: staff actions, newest first.")
    async def audit_log(
        self, info: GraphInfo, first: int | None = None, after: str | None = None
    ) -> AuditEntryConnection:
        viewer = await info.context.viewer()
        page = await audit.audit_page(info.context.deps, viewer, page_size(first), after)
        return audit_connection(page, viewer, after)

    @strawberry.field(description="Staff.")
    async def settings(self, info: GraphInfo) -> Settings:
        viewer = await info.context.viewer()
        found = await counsellors.get_settings(info.context.deps, viewer)
        return Settings(settings=found, viewer=viewer)

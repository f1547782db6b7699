"""Clients as the viewer may read them: in full, or redacted (`domain.visibility.ClientView`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain import model
from domain.ports import ClientPage, ClientQuery, Page, RequestQuery
from domain.use_cases import monitoring, notes, reads
from domain.visibility import ClientView, checked_client_view
from graph import enums, ids
from graph.context import Context, GraphInfo
from graph.later import Later
from graph.paging import PageInfo, page_info, page_size
from graph.types.counsellor import Counsellor, counsellor_by_id
from graph.types.node import Node

if TYPE_CHECKING:
    from graph.types.document import DocumentConnection
    from graph.types.history import PrimaryCounsellorChange
    from graph.types.monitoring import MonitoringEntryConnection
    from graph.types.note import NoteConnection
    from graph.types.request import RequestConnection


@strawberry.type
class Client(Node):
    view: strawberry.Private[ClientView]
    viewer: strawberry.Private[model.Viewer]

    # Plain values, set when the object is made: GraphQL then reads them as attributes, without a
    # resolver call per field (an overview page has 50 rows of them; docs/benchmarks.md). Those
    # the overview's page read knows are values; elsewhere they are read when selected (Later).
    client_code: str = strawberry.field(description="Six characters, A-Z and 0-9, unique, e.g. 75QJYD.")
    display_name: str
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    language: str | None = strawberry.field(
        description="An IETF language tag such as de or tr; null means not stated."
    )
    invitation_status: enums.InvitationStatus
    account_status: enums.AccountStatus
    last_login_at: datetime | None
    created_at: datetime
    open_request_count: int | Later[int] = strawberry.field(
        description="Open (QUEUED or ASSIGNED) requests of the client that the viewer may see.",
        graphql_type=int,
    )
    last_request_at: datetime | Later[datetime | None] | None = strawberry.field(
        description="When the client last submitted a request; null if never.", graphql_type=datetime | None
    )
    deleted_at: datetime | None = strawberry.field(
        description="Set while a deleted client waits for erasure; null otherwise."
    )
    erasure_due_at: datetime | None = strawberry.field(
        description="When a deleted client's personal data will be erased."
    )
    primary_counsellor: Counsellor | Later[Counsellor | None] | None = strawberry.field(
        graphql_type=Counsellor | None
    )

    @classmethod
    def of(
        cls,
        view: ClientView,
        viewer: model.Viewer,
        context: Context,
        primaries: Mapping[int, Counsellor] | None = None,
    ) -> Client:
        """The client as `viewer` may read them; `primaries`: their primary, if read already."""
        details = view.details
        return cls(
            id=ids.encode("Client", view.id),
            view=view,
            viewer=viewer,
            client_code=view.client_code,
            display_name=view.display_name,
            email=details.email if details else None,
            first_name=details.first_name if details else None,
            last_name=details.last_name if details else None,
            phone=details.phone if details else None,
            language=details.language if details else None,
            invitation_status=view.invitation_status,
            account_status=view.account_status,
            last_login_at=details.last_login_at if details else None,
            created_at=view.created_at,
            open_request_count=_open_request_count(view, viewer, context),
            last_request_at=_last_request_at(view, context),
            deleted_at=details.deleted_at if details else None,
            erasure_due_at=details.erasure_due_at if details else None,
            primary_counsellor=_primary_counsellor(view, viewer, context, primaries or {}),
        )

    @classmethod
    def checked(
        cls,
        client: model.Client,
        viewer: model.Viewer,
        context: Context,
        primaries: Mapping[int, Counsellor] | None = None,
    ) -> Client:
        """A client a use case returned after checking the viewer may see them."""
        return cls.of(checked_client_view(client), viewer, context, primaries)

    @strawberry.field(description="Oldest first.")
    async def primary_counsellor_history(
        self, info: GraphInfo
    ) -> list[Annotated[PrimaryCounsellorChange, strawberry.lazy("graph.types.history")]]:
        from graph.types.history import PrimaryCounsellorChange  # the history refers back to clients

        if self.view.details is None:
            return []
        changes = await info.context.loaders.history.load(self.view.id)
        return [PrimaryCounsellorChange.of(change, self.viewer) for change in changes]

    @strawberry.field(description="Newest first, those the viewer may see.")
    async def requests(
        self, info: GraphInfo, first: int | None = None, after: str | None = None
    ) -> Annotated[RequestConnection, strawberry.lazy("graph.types.request")]:
        from graph.types.request import request_connection, request_connection_of  # refer back

        size = page_size(first)
        if self.view.details is None:
            return request_connection_of(Page(items=[], has_next=False, total=0), self.viewer, after)
        if after is None:
            page = await info.context.loaders.first_requests.load((self.view.id, size, self.viewer))
            return request_connection_of(page, self.viewer, after)
        query = RequestQuery(client_id=self.view.id)
        return await request_connection(info, self.viewer, query, first, after)

    @strawberry.field(description="Staff: notes on this client, newest first; null for clients.")
    async def notes(
        self, info: GraphInfo, first: int | None = None, after: str | None = None
    ) -> Annotated[NoteConnection, strawberry.lazy("graph.types.note")] | None:
        from graph.types.note import note_connection  # notes refer back to their client

        if self.view.details is None or not self.viewer.is_staff:
            return None
        page = await notes.notes_of_client(
            info.context.deps, self.viewer, self.view.id, page_size(first), after
        )
        return None if page is None else note_connection(page, self.viewer, after)

    @strawberry.field(description="Staff: documented counselling contacts, newest first; null for clients.")
    async def monitoring_entries(
        self, info: GraphInfo, first: int | None = None, after: str | None = None
    ) -> Annotated[MonitoringEntryConnection, strawberry.lazy("graph.types.monitoring")] | None:
        from graph.types.monitoring import entry_connection  # entries refer back to their client

        if self.view.details is None or not self.viewer.is_staff:
            return None
        size = page_size(first)
        found = await monitoring.entries_of_client(info.context.deps, self.viewer, self.view.id, size, after)
        return None if found is None else entry_connection(*found, self.viewer, after)

    @strawberry.field(description="Staff: documents in this client's folder, newest first; null for clients.")
    async def documents(
        self, info: GraphInfo, first: int | None = None, after: str | None = None
    ) -> Annotated[DocumentConnection, strawberry.lazy("graph.types.document")] | None:
        from graph.types.document import client_documents  # documents refer back to clients

        if self.view.details is None or not self.viewer.is_staff:
            return None
        return await client_documents(info, self.viewer, self.view.id, first, after)


def _open_request_count(view: ClientView, viewer: model.Viewer, context: Context) -> int | Later[int]:
    if view.details is None:
        return 0
    if view.details.open_request_count is not None:  # read with the overview's page
        return view.details.open_request_count
    key = (view.id, viewer)
    return Later(lambda: context.loaders.open_requests.load(key))


def _last_request_at(view: ClientView, context: Context) -> datetime | Later[datetime | None] | None:
    if view.details is None:
        return None
    if view.details.open_request_count is not None:  # read with the overview's page
        return view.details.last_request_at
    client_id = view.id
    return Later(lambda: context.loaders.last_request.load(client_id))


def _primary_counsellor(
    view: ClientView, viewer: model.Viewer, context: Context, primaries: Mapping[int, Counsellor]
) -> Counsellor | Later[Counsellor | None] | None:
    primary_id = view.details.primary_counsellor_id if view.details else None
    if primary_id is None:
        return None
    known = primaries.get(primary_id)
    return known if known is not None else Later(lambda: counsellor_by_id(context, viewer, primary_id))


async def client_and_holders(
    info: GraphInfo, viewer: model.Viewer, client_id: int
) -> tuple[model.Client, set[int]] | None:
    """A client reached through a nested field, with what `domain.visibility` needs to decide
    what the viewer reads of them: who holds their requests (only staff can be among them)."""
    found = await info.context.loaders.client.load(client_id)
    if found is None:
        return None
    holders = await info.context.loaders.holders.load(found.id) if viewer.is_staff else set()
    return found, holders


@strawberry.type
class ClientEdge:
    cursor: str
    node: Client


@strawberry.type
class ClientConnection:
    edges: list[ClientEdge]
    page_info: PageInfo
    total_count: int


async def client_connection(
    info: GraphInfo, viewer: model.Viewer, query: ClientQuery, first: int | None, after: str | None
) -> ClientConnection:
    """A page of the clients the viewer may see (the query filters them)."""
    page = await reads.client_page_unchecked(info.context.deps, viewer, query, page_size(first), after)
    return client_connection_of(info, viewer, page, after)


def client_connection_of(
    info: GraphInfo, viewer: model.Viewer, page: ClientPage, after: str | None
) -> ClientConnection:
    context = info.context
    context.loaders.counsellor.prime_many(page.primaries)  # for other fields of this request
    # One object per primary, shared by their clients' rows.
    primaries = {i: Counsellor.of(c, viewer) for i, c in page.primaries.items()}
    edges = [
        ClientEdge(cursor=cursor, node=Client.checked(c, viewer, context, primaries))
        for cursor, c in page.items
    ]
    return ClientConnection(edges=edges, page_info=page_info(page, after), total_count=page.total)  # type: ignore[arg-type]

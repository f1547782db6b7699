"""Counsellors as the viewer may read them: everything for staff, the presence fields for clients."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain import model
from domain.ports import ClientQuery, Page
from domain.use_cases.availability import Presence
from domain.visibility import CounsellorView, counsellor_view
from graph import enums, ids
from graph.context import Context, GraphInfo
from graph.paging import PageInfo, page_info
from graph.types.node import Node

if TYPE_CHECKING:
    from graph.types.client import ClientConnection


@strawberry.type(
    description="A counsellor. Clients may read only id, displayName, onlineStatus, absent and\nabsenceMessage; every other field is null for them (hence nullable)."
)
class Counsellor(Node):
    view: strawberry.Private[CounsellorView]
    viewer: strawberry.Private[model.Viewer]

    # Plain values, read when the object is made: GraphQL then reads them as attributes, without a
    # resolver call per field (docs/benchmarks.md).
    display_name: str = strawberry.field(description="The name clients see.")
    email: str | None
    first_name: str | None
    last_name: str | None
    role: enums.StaffRole | None
    active: bool | None = strawberry.field(
        description="Inactive counsellors cannot sign in and are never routed to."
    )
    online_status: enums.OnlineStatus
    chat_capacity: int | None = strawberry.field(description="Concurrent chats this counsellor takes.")
    active_chat_count: int | None
    mail_availability: enums.MailAvailability | None
    mail_resources: int | None = strawberry.field(
        description="The N of BY_FREE_RESOURCES (kept when the mode changes)."
    )
    open_mail_count: int | None
    free_mail_resources: int | None = strawberry.field(
        description="Mail requests they would still take now: null when UNLIMITED, 0 when NONE."
    )
    absent: bool
    absence_message: str | None = strawberry.field(
        description="Shown to clients while absent; null when not absent."
    )
    invitation_status: enums.InvitationStatus | None = strawberry.field(
        description="Staff: whether the counsellor has set a password yet."
    )
    last_login_at: datetime | None
    only_own_clients: bool | None = strawberry.field(
        description="When true, only their own primary clients are routed to them."
    )

    @classmethod
    def of(cls, counsellor: model.Counsellor, viewer: model.Viewer) -> Counsellor:
        view = counsellor_view(viewer, counsellor)
        details = view.details
        return cls(
            id=ids.encode("Counsellor", counsellor.id),
            view=view,
            viewer=viewer,
            display_name=view.display_name,
            email=details.email if details else None,
            first_name=details.first_name if details else None,
            last_name=details.last_name if details else None,
            role=details.role if details else None,
            active=details.active if details else None,
            online_status=view.online_status,
            chat_capacity=details.chat_capacity if details else None,
            active_chat_count=details.active_chat_count if details else None,
            mail_availability=details.mail_availability if details else None,
            mail_resources=details.mail_resources if details else None,
            open_mail_count=details.open_mail_count if details else None,
            free_mail_resources=details.free_mail_resources if details else None,
            absent=view.absent,
            absence_message=view.absence_message,
            only_own_clients=details.only_own_clients if details else None,
            invitation_status=details.invitation_status if details else None,
            last_login_at=details.last_login_at if details else None,
        )

    @strawberry.field(description="Staff: how many clients have this counsellor as primary.")
    async def primary_client_count(self, info: GraphInfo) -> int | None:
        if self.view.details is None:
            return None
        found: int = await info.context.loaders.primary_counts.load(self.view.id)
        return found

    @strawberry.field(description="Clients whose primary counsellor this is, by display name.")
    async def primary_clients(
        self, info: GraphInfo, first: int | None = None, after: str | None = None
    ) -> Annotated[ClientConnection, strawberry.lazy("graph.types.client")] | None:
        from graph.types.client import client_connection  # the client types refer back to this one

        if self.view.details is None:
            return None
        query = ClientQuery(primary_counsellor_id=self.view.id)
        return await client_connection(info, self.viewer, query, first, after)


async def counsellor_by_id(
    context: Context, viewer: model.Viewer, counsellor_id: int | None
) -> Counsellor | None:
    """A counsellor named by an object the viewer may see (staff see every colleague; a client the
    counsellors of their own requests and history), as the viewer may read them."""
    if counsellor_id is None:
        return None
    found = await context.loaders.counsellor.load(counsellor_id)
    return Counsellor.of(found, viewer) if found else None


@strawberry.type
class CounsellorEdge:
    cursor: str
    node: Counsellor


@strawberry.type
class CounsellorConnection:
    edges: list[CounsellorEdge]
    page_info: PageInfo
    total_count: int


def counsellor_connection(
    page: Page[model.Counsellor], viewer: model.Viewer, after: str | None
) -> CounsellorConnection:
    edges = [CounsellorEdge(cursor=cursor, node=Counsellor.of(c, viewer)) for cursor, c in page.items]
    return CounsellorConnection(edges=edges, page_info=page_info(page, after), total_count=page.total)  # type: ignore[arg-type]


@strawberry.type(
    description="What a client or an anonymous visitor may know about one counsellor: no personal data beyond the display name."
)
class CounsellorPresence:
    counsellor_id: strawberry.ID
    display_name: str
    online_status: enums.OnlineStatus
    chat_available: bool = strawberry.field(description="Would take a new chat from this client now.")
    mail_available: bool = strawberry.field(description="Would take a new mail request from this client now.")
    absent: bool
    absence_message: str | None

    @classmethod
    def of(cls, presence: Presence) -> CounsellorPresence:
        view = presence.shown
        return cls(
            counsellor_id=ids.encode("Counsellor", view.id),
            display_name=view.display_name,
            online_status=view.online_status,
            chat_available=presence.chat_available,
            mail_available=presence.mail_available,
            absent=view.absent,
            absence_message=view.absence_message,
        )

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
from graph.context import GraphInfo
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

    @classmethod
    def of(cls, counsellor: model.Counsellor, viewer: model.Viewer) -> Counsellor:
        view = counsellor_view(viewer, counsellor)
        return cls(id=ids.encode("Counsellor", counsellor.id), view=view, viewer=viewer)

    @strawberry.field(description="The name clients see.")
    def display_name(self) -> str:
        return self.view.display_name

    @strawberry.field
    def email(self) -> str | None:
        return self.view.details.email if self.view.details else None

    @strawberry.field
    def first_name(self) -> str | None:
        return self.view.details.first_name if self.view.details else None

    @strawberry.field
    def last_name(self) -> str | None:
        return self.view.details.last_name if self.view.details else None

    @strawberry.field
    def role(self) -> enums.StaffRole | None:
        return self.view.details.role if self.view.details else None

    @strawberry.field(description="Inactive counsellors cannot sign in and are never routed to.")
    def active(self) -> bool | None:
        return self.view.details.active if self.view.details else None

    @strawberry.field
    def online_status(self) -> enums.OnlineStatus:
        return self.view.online_status

    @strawberry.field(description="Concurrent chats this counsellor takes.")
    def chat_capacity(self) -> int | None:
        return self.view.details.chat_capacity if self.view.details else None

    @strawberry.field
    def active_chat_count(self) -> int | None:
        return self.view.details.active_chat_count if self.view.details else None

    @strawberry.field
    def mail_availability(self) -> enums.MailAvailability | None:
        return self.view.details.mail_availability if self.view.details else None

    @strawberry.field(description="The N of BY_FREE_RESOURCES (kept when the mode changes).")
    def mail_resources(self) -> int | None:
        return self.view.details.mail_resources if self.view.details else None

    @strawberry.field
    def open_mail_count(self) -> int | None:
        return self.view.details.open_mail_count if self.view.details else None

    @strawberry.field(
        description="Mail requests they would still take now: null when UNLIMITED, 0 when NONE."
    )
    def free_mail_resources(self) -> int | None:
        return self.view.details.free_mail_resources if self.view.details else None

    @strawberry.field
    def absent(self) -> bool:
        return self.view.absent

    @strawberry.field(description="Shown to clients while absent; null when not absent.")
    def absence_message(self) -> str | None:
        return self.view.absence_message

    @strawberry.field(description="When true, only their own primary clients are routed to them.")
    def only_own_clients(self) -> bool | None:
        return self.view.details.only_own_clients if self.view.details else None

    @strawberry.field(description="Staff: how many clients have this counsellor as primary.")
    async def primary_client_count(self, info: GraphInfo) -> int | None:
        if self.view.details is None:
            return None
        found: int = await info.context.loaders.primary_counts.load(self.view.id)
        return found

    @strawberry.field(description="Staff: whether the counsellor has set a password yet.")
    def invitation_status(self) -> enums.InvitationStatus | None:
        return self.view.details.invitation_status if self.view.details else None

    @strawberry.field
    def last_login_at(self) -> datetime | None:
        return self.view.details.last_login_at if self.view.details else None

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
    info: GraphInfo, viewer: model.Viewer, counsellor_id: int | None
) -> Counsellor | None:
    """A counsellor named by an object the viewer may see (staff see every colleague; a client the
    counsellors of their own requests and history), as the viewer may read them."""
    if counsellor_id is None:
        return None
    found = await info.context.loaders.counsellor.load(counsellor_id)
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

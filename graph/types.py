"""Output types. Each holds the domain object and the viewer it is shown to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

import strawberry
from strawberry.types import Info

from domain import model
from domain.ports import ClientQuery, Page, RequestQuery
from domain.use_cases import reads
from domain.use_cases.availability import Presence
from domain.use_cases.queue import QueueStatus, queue_status
from domain.visibility import presence_only, sees_client
from graph import enums, ids
from graph.context import Context
from graph.paging import page_size

GraphInfo = Info[Context, None]
T = TypeVar("T")


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def _page_info(page: Page[object], after: str | None) -> PageInfo:
    cursors = [cursor for cursor, _ in page.items]
    return PageInfo(
        has_next_page=page.has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )


@strawberry.type(
    description="A counsellor. Clients may read only id, displayName, onlineStatus, absent and\nabsenceMessage; every other field is null for them (hence nullable)."
)
class Counsellor(Node):
    c: strawberry.Private[model.Counsellor]
    viewer: strawberry.Private[model.Viewer]

    @classmethod
    def of(cls, counsellor: model.Counsellor, viewer: model.Viewer) -> Counsellor:
        return cls(id=ids.encode("Counsellor", counsellor.id), c=counsellor, viewer=viewer)

    def _staff(self, value: T) -> T | None:
        return None if presence_only(self.viewer) else value

    @strawberry.field(description="The name clients see.")
    def display_name(self) -> str:
        return self.c.display_name

    @strawberry.field
    def email(self) -> str | None:
        return self._staff(self.c.email)

    @strawberry.field
    def first_name(self) -> str | None:
        return self._staff(self.c.first_name)

    @strawberry.field
    def last_name(self) -> str | None:
        return self._staff(self.c.last_name)

    @strawberry.field
    def role(self) -> enums.StaffRole | None:
        return self._staff(self.c.role)

    @strawberry.field(description="Inactive counsellors cannot sign in and are never routed to.")
    def active(self) -> bool | None:
        return self._staff(self.c.active)

    @strawberry.field
    def online_status(self) -> enums.OnlineStatus:
        return self.c.online_status

    @strawberry.field(description="Concurrent chats this counsellor takes.")
    def chat_capacity(self) -> int | None:
        return self._staff(self.c.chat_capacity)

    @strawberry.field
    def active_chat_count(self) -> int | None:
        return self._staff(self.c.active_chat_count)

    @strawberry.field
    def mail_availability(self) -> enums.MailAvailability | None:
        return self._staff(self.c.mail_availability)

    @strawberry.field(description="The N of BY_FREE_RESOURCES (kept when the mode changes).")
    def mail_resources(self) -> int | None:
        return self._staff(self.c.mail_resources)

    @strawberry.field
    def open_mail_count(self) -> int | None:
        return self._staff(self.c.open_mail_count)

    @strawberry.field(
        description="Mail requests they would still take now: null when UNLIMITED, 0 when NONE."
    )
    def free_mail_resources(self) -> int | None:
        return self._staff(self.c.free_mail_resources)

    @strawberry.field
    def absent(self) -> bool:
        return self.c.absent

    @strawberry.field(description="Shown to clients while absent; null when not absent.")
    def absence_message(self) -> str | None:
        return self.c.absence_message if self.c.absent else None

    @strawberry.field(description="When true, only their own primary clients are routed to them.")
    def only_own_clients(self) -> bool | None:
        return self._staff(self.c.only_own_clients)

    @strawberry.field(description="Clients whose primary counsellor this is, by display name.")
    async def primary_clients(
        self, info: GraphInfo, first: int | None = None, after: str | None = None
    ) -> ClientConnection | None:
        if presence_only(self.viewer):
            return None
        query = ClientQuery(primary_counsellor_id=self.c.id)
        return await client_connection(info, self.viewer, query, first, after)


@strawberry.type
class Client(Node):
    c: strawberry.Private[model.Client]
    viewer: strawberry.Private[model.Viewer]

    @classmethod
    def of(cls, client: model.Client, viewer: model.Viewer) -> Client:
        return cls(id=ids.encode("Client", client.id), c=client, viewer=viewer)

    @strawberry.field(description="Six characters, A-Z and 0-9, unique, e.g. 75QJYD.")
    def client_code(self) -> str:
        return self.c.client_code

    @strawberry.field
    def display_name(self) -> str:
        return self.c.display_name

    @strawberry.field
    def email(self) -> str | None:
        return self.c.email

    @strawberry.field
    def first_name(self) -> str | None:
        return self.c.first_name

    @strawberry.field
    def last_name(self) -> str | None:
        return self.c.last_name

    @strawberry.field
    def phone(self) -> str | None:
        return self.c.phone

    @strawberry.field(description="An IETF language tag such as de or tr; null means not stated.")
    def language(self) -> str | None:
        return self.c.language

    @strawberry.field
    def invitation_status(self) -> enums.InvitationStatus:
        return self.c.invitation_status

    @strawberry.field
    def account_status(self) -> enums.AccountStatus:
        return self.c.account_status

    @strawberry.field
    def last_login_at(self) -> datetime | None:
        return self.c.last_login_at

    @strawberry.field
    def created_at(self) -> datetime:
        return self.c.created_at

    @strawberry.field
    async def primary_counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info, self.viewer, self.c.primary_counsellor_id)

    @strawberry.field(description="Oldest first.")
    async def primary_counsellor_history(self, info: GraphInfo) -> list[PrimaryCounsellorChange]:
        changes = await info.context.loaders.history.load(self.c.id)
        return [PrimaryCounsellorChange.of(change, self.viewer) for change in changes]

    @strawberry.field(description="Newest first, those the viewer may see.")
    async def requests(
        self, info: GraphInfo, first: int | None = None, after: str | None = None
    ) -> RequestConnection:
        if after is None:
            page = await info.context.loaders.first_requests.load((self.c.id, page_size(first), self.viewer))
            return _request_connection(page, self.viewer, after)
        query = RequestQuery(client_id=self.c.id)
        return await request_connection(info, self.viewer, query, first, after)


@strawberry.type
class PrimaryCounsellorChange:
    ch: strawberry.Private[model.PrimaryCounsellorChange]
    viewer: strawberry.Private[model.Viewer]
    id: strawberry.ID

    @classmethod
    def of(cls, change: model.PrimaryCounsellorChange, viewer: model.Viewer) -> PrimaryCounsellorChange:
        return cls(id=ids.encode("PrimaryCounsellorChange", change.id), ch=change, viewer=viewer)

    @strawberry.field
    async def client(self, info: GraphInfo) -> Client:
        found = await info.context.loaders.client.load(self.ch.client_id)
        assert found is not None  # history rows always name an existing client
        return Client.of(found, self.viewer)

    @strawberry.field
    async def previous_counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info, self.viewer, self.ch.previous_counsellor_id)

    @strawberry.field
    async def new_counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info, self.viewer, self.ch.new_counsellor_id)

    @strawberry.field
    def source(self) -> enums.AssignmentSource:
        return self.ch.source

    @strawberry.field(description="Who changed it by hand; null for automatic changes.")
    async def changed_by(self, info: GraphInfo) -> Counsellor | None:
        if presence_only(self.viewer):
            return None  # staff write the reason and act for staff
        return await counsellor_by_id(info, self.viewer, self.ch.changed_by_id)

    @strawberry.field
    def reason(self) -> str | None:
        return None if presence_only(self.viewer) else self.ch.reason

    @strawberry.field
    def changed_at(self) -> datetime:
        return self.ch.changed_at


@strawberry.type
class Request(Node):
    r: strawberry.Private[model.Request]
    viewer: strawberry.Private[model.Viewer]

    @classmethod
    def of(cls, request: model.Request, viewer: model.Viewer) -> Request:
        return cls(id=ids.encode("Request", request.id), r=request, viewer=viewer)

    @strawberry.field(
        description="Null when the viewer may no longer see the client (e.g. a counsellor after handing the client over)."
    )
    async def client(self, info: GraphInfo) -> Client | None:
        found = await info.context.loaders.client.load(self.r.client_id)
        if found is None:
            return None
        holders = await info.context.loaders.holders.load(found.id) if self.viewer.is_staff else set()
        return Client.of(found, self.viewer) if sees_client(self.viewer, found, holders) else None

    @strawberry.field
    def channel(self) -> enums.Channel:
        return self.r.channel

    @strawberry.field
    def status(self) -> enums.RequestStatus:
        return self.r.status

    @strawberry.field
    def subject(self) -> str | None:
        return self.r.subject

    @strawberry.field(description="Null after the client's data has been erased.")
    def message(self) -> str | None:
        return self.r.message

    @strawberry.field
    async def counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info, self.viewer, self.r.counsellor_id)

    @strawberry.field
    def routing_reason(self) -> enums.RoutingReason | None:
        return self.r.routing_reason

    @strawberry.field
    def created_at(self) -> datetime:
        return self.r.created_at

    @strawberry.field
    def assigned_at(self) -> datetime | None:
        return self.r.assigned_at

    @strawberry.field
    def closed_at(self) -> datetime | None:
        return self.r.closed_at

    @strawberry.field(description="When the holding counsellor accepted it.")
    def accepted_at(self) -> datetime | None:
        return self.r.accepted_at

    @strawberry.field(
        description="While a queued chat waits for the client's busy primary alone: until when."
    )
    def waiting_for_primary_until(self) -> datetime | None:
        if self.r.status is not model.RequestStatus.QUEUED or self.r.wait_until is None:
            return None
        return self.r.wait_until if self.r.wait_until > datetime.now(UTC) else None

    @strawberry.field(
        description="Position among the requests waiting for the same counsellors; null unless QUEUED."
    )
    async def queue_position(self, info: GraphInfo) -> int | None:
        status = await self._queue_status(info)
        return status.position if status else None

    @strawberry.field(
        description="Estimated seconds until it is assigned, from recent assignment rates; null unless QUEUED or without recent data."
    )
    async def estimated_wait_seconds(self, info: GraphInfo) -> int | None:
        status = await self._queue_status(info)
        return status.estimated_wait_seconds if status else None

    async def _queue_status(self, info: GraphInfo) -> QueueStatus | None:
        """Read once per request object: position and estimate come from the same reads."""
        if "queue" not in self.__dict__:
            self.__dict__["queue"] = await queue_status(info.context.deps, self.r)
        found: QueueStatus | None = self.__dict__["queue"]
        return found

    @strawberry.field(
        description="Staff: the steps of each routing decision, oldest first; null for clients."
    )
    def routing_trace(self) -> list[RoutingStep] | None:
        if presence_only(self.viewer):
            return None
        return [RoutingStep(s=step, viewer=self.viewer) for step in self.r.trace]


@strawberry.type(description="One step of a routing decision.")
class RoutingStep:
    s: strawberry.Private[model.RoutingStep]
    viewer: strawberry.Private[model.Viewer]

    @strawberry.field
    def at(self) -> datetime:
        return self.s.at

    @strawberry.field
    async def counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info, self.viewer, self.s.counsellor_id)

    @strawberry.field(
        description="PRIMARY_TAKES, PRIMARY_SKIPPED, WAITING_FOR_PRIMARY, WAIT_ENDED, CANDIDATE_CHOSEN, FALLBACK_USED, QUEUED, ACCEPT_TIMEOUT or MANUAL."
    )
    def outcome(self) -> str:
        return self.s.outcome.value

    @strawberry.field
    def detail(self) -> str | None:
        return self.s.detail


@strawberry.type
class ClientEdge:
    cursor: str
    node: Client


@strawberry.type
class ClientConnection:
    edges: list[ClientEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class RequestEdge:
    cursor: str
    node: Request


@strawberry.type
class RequestConnection:
    edges: list[RequestEdge]
    page_info: PageInfo
    total_count: int


async def counsellor_by_id(
    info: GraphInfo, viewer: model.Viewer, counsellor_id: int | None
) -> Counsellor | None:
    """A counsellor already known to be visible through the object that names them."""
    if counsellor_id is None:
        return None
    found = await info.context.loaders.counsellor.load(counsellor_id)
    return Counsellor.of(found, viewer) if found else None


async def client_connection(
    info: GraphInfo, viewer: model.Viewer, query: ClientQuery, first: int | None, after: str | None
) -> ClientConnection:
    page = await reads.client_page_unchecked(info.context.deps, viewer, query, page_size(first), after)
    edges = [ClientEdge(cursor=cursor, node=Client.of(c, viewer)) for cursor, c in page.items]
    return ClientConnection(edges=edges, page_info=_page_info(page, after), total_count=page.total)  # type: ignore[arg-type]


async def request_connection(
    info: GraphInfo, viewer: model.Viewer, query: RequestQuery, first: int | None, after: str | None
) -> RequestConnection:
    page = await reads.request_page(info.context.deps, viewer, query, page_size(first), after)
    return _request_connection(page, viewer, after)


def _request_connection(
    page: Page[model.Request], viewer: model.Viewer, after: str | None
) -> RequestConnection:
    edges = [RequestEdge(cursor=cursor, node=Request.of(r, viewer)) for cursor, r in page.items]
    return RequestConnection(edges=edges, page_info=_page_info(page, after), total_count=page.total)  # type: ignore[arg-type]


@strawberry.type(description="Who is asking: exactly one of counsellor and client is set.")
class Viewer:
    role: enums.Role
    counsellor: Counsellor | None
    client: Client | None


@strawberry.type
class Session:
    token: str = strawberry.field(
        description='Send as `Authorization: Bearer <token>`, or as {"Authorization": "Bearer <token>"} in the websocket connection_init payload.'
    )
    expires_at: datetime
    me: Viewer


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
        c = presence.counsellor
        return cls(
            counsellor_id=ids.encode("Counsellor", c.id),
            display_name=c.display_name,
            online_status=c.online_status,
            chat_available=presence.chat_available,
            mail_available=presence.mail_available,
            absent=c.absent,
            absence_message=c.absence_message if c.absent else None,
        )


@strawberry.type(description="Availability as the viewer may see it.")
class Availability:
    chat_available: bool = strawberry.field(
        description="A new chat request from the viewer would be delivered now."
    )
    mail_available: bool = strawberry.field(
        description="A new mail request from the viewer would be delivered now."
    )
    primary_counsellor: CounsellorPresence | None = strawberry.field(
        description="The viewer's primary counsellor; null for anonymous visitors and clients without one."
    )
    queued_request: Request | None = strawberry.field(
        default=None, description="The client's oldest QUEUED request, with its position and estimated wait."
    )


@strawberry.type
class Settings:
    s: strawberry.Private[model.Settings]
    viewer: strawberry.Private[model.Viewer]

    @strawberry.field(
        description="Takes mail requests when nobody else can; never becomes anyone's primary through that."
    )
    async def fallback_counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info, self.viewer, self.s.fallback_counsellor_id)

    @strawberry.field(
        description="Seconds a chat waits for a busy primary before it is offered to others (0: none)."
    )
    def primary_chat_wait_seconds(self) -> int:
        return self.s.primary_chat_wait_seconds

    @strawberry.field(description="Seconds without a sign of life after which a counsellor goes OFFLINE.")
    def presence_timeout_seconds(self) -> int:
        return self.s.presence_timeout_seconds

    @strawberry.field(description="Seconds to accept an assigned chat before it is offered again; null: off.")
    def accept_timeout_seconds(self) -> int | None:
        return self.s.accept_timeout_seconds


@strawberry.type(description="One staff action in the audit log.")
class AuditEntry:
    e: strawberry.Private[model.AuditEntry]
    viewer: strawberry.Private[model.Viewer]

    @strawberry.field
    def at(self) -> datetime:
        return self.e.at

    @strawberry.field
    async def actor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info, self.viewer, self.e.actor_id)

    @strawberry.field(
        description="CLIENT_READ, CLIENT_EXPORTED, CLIENT_ERASED, PRIMARY_CHANGED or REQUEST_ASSIGNED."
    )
    def action(self) -> str:
        return self.e.action

    @strawberry.field(description="The id of what the action concerned (a Client or Request id).")
    def subject_id(self) -> strawberry.ID:
        return ids.encode(self.e.subject_type, self.e.subject_id)

    @strawberry.field
    def detail(self) -> str | None:
        return self.e.detail


@strawberry.type
class AuditEntryEdge:
    cursor: str
    node: AuditEntry


@strawberry.type
class AuditEntryConnection:
    edges: list[AuditEntryEdge]
    page_info: PageInfo
    total_count: int


def audit_connection(
    page: Page[model.AuditEntry], viewer: model.Viewer, after: str | None
) -> AuditEntryConnection:
    edges = [AuditEntryEdge(cursor=cursor, node=AuditEntry(e=e, viewer=viewer)) for cursor, e in page.items]
    return AuditEntryConnection(edges=edges, page_info=_page_info(page, after), total_count=page.total)  # type: ignore[arg-type]

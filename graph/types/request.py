"""Requests and how they were routed, as the viewer may read them."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from domain import model
from domain.ports import Page, RequestQuery
from domain.use_cases import reads
from domain.use_cases.queue import QueueStatus, queue_status
from domain.visibility import request_client_view, routing_trace_view
from graph import enums, ids
from graph.context import GraphInfo
from graph.paging import PageInfo, page_info, page_size
from graph.types.client import Client, client_and_holders
from graph.types.counsellor import Counsellor, counsellor_by_id
from graph.types.node import Node


@strawberry.type
class Request(Node):
    request: strawberry.Private[model.Request]
    viewer: strawberry.Private[model.Viewer]

    @classmethod
    def of(cls, request: model.Request, viewer: model.Viewer) -> Request:
        """A request a use case returned after checking the viewer may see it."""
        return cls(id=ids.encode("Request", request.id), request=request, viewer=viewer)

    @strawberry.field(
        description="Null when the viewer may no longer see the client (e.g. a counsellor after handing the client over)."
    )
    async def client(self, info: GraphInfo) -> Client | None:
        found = await client_and_holders(info, self.viewer, self.request.client_id)
        view = request_client_view(self.viewer, *found) if found else None
        return Client.of(view, self.viewer, info.context) if view else None

    @strawberry.field
    def channel(self) -> enums.Channel:
        return self.request.channel

    @strawberry.field
    def status(self) -> enums.RequestStatus:
        return self.request.status

    @strawberry.field
    def subject(self) -> str | None:
        return self.request.subject

    @strawberry.field(description="Null after the client's data has been erased.")
    def message(self) -> str | None:
        return self.request.message

    @strawberry.field
    async def counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info.context, self.viewer, self.request.counsellor_id)

    @strawberry.field
    def routing_reason(self) -> enums.RoutingReason | None:
        return self.request.routing_reason

    @strawberry.field
    def created_at(self) -> datetime:
        return self.request.created_at

    @strawberry.field
    def assigned_at(self) -> datetime | None:
        return self.request.assigned_at

    @strawberry.field
    def closed_at(self) -> datetime | None:
        return self.request.closed_at

    @strawberry.field(description="When the holding counsellor accepted it.")
    def accepted_at(self) -> datetime | None:
        return self.request.accepted_at

    @strawberry.field(
        description="When it was created or last changed status, holder, acceptance or wait: a client "
        "that reconnects passes the latest it saw as `since` to requestUpdated."
    )
    def updated_at(self) -> datetime:
        return self.request.last_changed_at

    @strawberry.field(
        description="While a queued chat waits for the client's busy primary alone: until when."
    )
    def waiting_for_primary_until(self) -> datetime | None:
        request = self.request
        if request.status is not model.RequestStatus.QUEUED or request.wait_until is None:
            return None
        return request.wait_until if request.wait_until > datetime.now(UTC) else None

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
            self.__dict__["queue"] = await queue_status(info.context.deps, self.request)
        found: QueueStatus | None = self.__dict__["queue"]
        return found

    @strawberry.field(
        description="Staff: the steps of each routing decision, oldest first; null for clients."
    )
    def routing_trace(self) -> list[RoutingStep] | None:
        steps = routing_trace_view(self.viewer, self.request)
        if steps is None:
            return None
        return [RoutingStep(step=step, viewer=self.viewer) for step in steps]


@strawberry.type(description="One step of a routing decision.")
class RoutingStep:
    step: strawberry.Private[model.RoutingStep]
    viewer: strawberry.Private[model.Viewer]

    @strawberry.field
    def at(self) -> datetime:
        return self.step.at

    @strawberry.field
    async def counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info.context, self.viewer, self.step.counsellor_id)

    @strawberry.field(
        description="PRIMARY_TAKES, PRIMARY_SKIPPED, WAITING_FOR_PRIMARY, WAIT_ENDED, CANDIDATE_CHOSEN, FALLBACK_USED, QUEUED, ACCEPT_TIMEOUT or MANUAL."
    )
    def outcome(self) -> str:
        return self.step.outcome.value

    @strawberry.field
    def detail(self) -> str | None:
        return self.step.detail


@strawberry.type
class RequestEdge:
    cursor: str
    node: Request


@strawberry.type
class RequestConnection:
    edges: list[RequestEdge]
    page_info: PageInfo
    total_count: int


async def request_connection(
    info: GraphInfo, viewer: model.Viewer, query: RequestQuery, first: int | None, after: str | None
) -> RequestConnection:
    """A page of the requests the viewer may see (the query filters them)."""
    page = await reads.request_page(info.context.deps, viewer, query, page_size(first), after)
    return request_connection_of(page, viewer, after)


def request_connection_of(
    page: Page[model.Request], viewer: model.Viewer, after: str | None
) -> RequestConnection:
    edges = [RequestEdge(cursor=cursor, node=Request.of(r, viewer)) for cursor, r in page.items]
    return RequestConnection(edges=edges, page_info=page_info(page, after), total_count=page.total)  # type: ignore[arg-type]

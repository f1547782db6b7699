"""Monitoring: the topic catalogue, documented contacts and the statistics for funders."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain import model
from domain import monitoring as domain
from domain.ports import Page
from graph import enums, ids
from graph.context import GraphInfo
from graph.paging import PageInfo, page_info
from graph.types.counsellor import Counsellor, counsellor_by_id
from graph.types.node import Node
from graph.types.note import folder_client

if TYPE_CHECKING:
    from graph.types.client import Client


@strawberry.type(description="An entry of the monitoring catalogue: a category with options, or an option.")
class MonitoringTopic(Node):
    topic: strawberry.Private[domain.MonitoringTopic]
    catalogue: strawberry.Private[domain.Catalogue]

    @classmethod
    def of(cls, topic: domain.MonitoringTopic, catalogue: domain.Catalogue) -> MonitoringTopic:
        return cls(id=ids.encode("MonitoringTopic", topic.id), topic=topic, catalogue=catalogue)

    @strawberry.field
    def name(self) -> str:
        return self.topic.name

    @strawberry.field
    def parent(self) -> MonitoringTopic | None:
        found = self.catalogue.topics.get(self.topic.parent_id or 0)
        return MonitoringTopic.of(found, self.catalogue) if found else None

    @strawberry.field
    def children(self) -> list[MonitoringTopic]:
        return [MonitoringTopic.of(t, self.catalogue) for t in self.catalogue.children(self.topic.id)]

    @strawberry.field(description="Inactive topics stay on old entries but cannot be chosen for new ones.")
    def active(self) -> bool:
        return self.topic.active


def topic_of(catalogue: domain.Catalogue, topic_id: int) -> MonitoringTopic:
    return MonitoringTopic.of(catalogue.topics[topic_id], catalogue)


@strawberry.type(description="One documented counselling contact (Monitoring).")
class MonitoringEntry(Node):
    entry: strawberry.Private[domain.MonitoringEntry]
    catalogue: strawberry.Private[domain.Catalogue]
    viewer: strawberry.Private[model.Viewer]

    @classmethod
    def of(
        cls, entry: domain.MonitoringEntry, catalogue: domain.Catalogue, viewer: model.Viewer
    ) -> MonitoringEntry:
        return cls(
            id=ids.encode("MonitoringEntry", entry.id), entry=entry, catalogue=catalogue, viewer=viewer
        )

    @strawberry.field
    async def client(self, info: GraphInfo) -> Annotated[Client, strawberry.lazy("graph.types.client")]:
        return await folder_client(info, self.viewer, self.entry.client_id)

    @strawberry.field
    async def counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info.context, self.viewer, self.entry.counsellor_id)

    @strawberry.field
    def contact_at(self) -> datetime:
        return self.entry.contact_at

    @strawberry.field
    def channel(self) -> enums.Channel:
        return self.entry.channel

    @strawberry.field
    def duration_minutes(self) -> int:
        return self.entry.duration_minutes

    @strawberry.field
    def topics(self) -> list[MonitoringTopic]:
        return [topic_of(self.catalogue, t) for t in self.entry.topic_ids if t in self.catalogue.topics]

    @strawberry.field
    def outcome(self) -> str | None:
        return self.entry.outcome

    @strawberry.field
    def note(self) -> str | None:
        return self.entry.note

    @strawberry.field
    def created_at(self) -> datetime:
        return self.entry.created_at


@strawberry.type
class MonitoringEntryEdge:
    cursor: str
    node: MonitoringEntry


@strawberry.type
class MonitoringEntryConnection:
    edges: list[MonitoringEntryEdge]
    page_info: PageInfo
    total_count: int


def entry_connection(
    page: Page[domain.MonitoringEntry], catalogue: domain.Catalogue, viewer: model.Viewer, after: str | None
) -> MonitoringEntryConnection:
    edges = [
        MonitoringEntryEdge(cursor=cursor, node=MonitoringEntry.of(e, catalogue, viewer))
        for cursor, e in page.items
    ]
    return MonitoringEntryConnection(edges=edges, page_info=page_info(page, after), total_count=page.total)  # type: ignore[arg-type]


@strawberry.type(description="Contacts in one month, channel and topic (and counsellor when asked for).")
class MonitoringStatisticsRow:
    cell: strawberry.Private[domain.StatisticsCell]
    catalogue: strawberry.Private[domain.Catalogue]
    viewer: strawberry.Private[model.Viewer]

    @strawberry.field(description="YYYY-MM")
    def month(self) -> str:
        return self.cell.month

    @strawberry.field
    def channel(self) -> enums.Channel:
        return self.cell.channel

    @strawberry.field
    def topic(self) -> MonitoringTopic:
        return topic_of(self.catalogue, self.cell.topic_id)

    @strawberry.field
    async def counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info.context, self.viewer, self.cell.counsellor_id)

    @strawberry.field(description="Null when suppressed.")
    def contacts(self) -> int | None:
        return self.cell.contacts

    @strawberry.field(
        description="True when the count is below the threshold and withheld so no person can be singled out."
    )
    def suppressed(self) -> bool:
        return self.cell.suppressed

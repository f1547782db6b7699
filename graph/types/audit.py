"""The audit log of staff actions (admins)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import model
from domain.ports import Page
from graph import ids
from graph.context import GraphInfo
from graph.paging import PageInfo, page_info
from graph.types.counsellor import Counsellor, counsellor_by_id


@strawberry.type(description="One staff action in the audit log.")
class AuditEntry:
    entry: strawberry.Private[model.AuditEntry]
    viewer: strawberry.Private[model.Viewer]

    @strawberry.field
    def at(self) -> datetime:
        return self.entry.at

    @strawberry.field
    async def actor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info.context, self.viewer, self.entry.actor_id)

    @strawberry.field(
        description="CLIENT_READ, CLIENT_EXPORTED, CLIENT_ERASED, PRIMARY_CHANGED, REQUEST_ASSIGNED, "
        "NOTE_ADDED, NOTE_EDITED, NOTE_DELETED, MONITORING_ENTRY_ADDED, MONITORING_ENTRY_CHANGED, "
        "MONITORING_ENTRY_DELETED, MONITORING_TOPIC_ADDED or MONITORING_TOPIC_CHANGED."
    )
    def action(self) -> str:
        return self.entry.action

    @strawberry.field(
        description="The id of what the action concerned (a Client, Request or MonitoringTopic id)."
    )
    def subject_id(self) -> strawberry.ID:
        return ids.encode(self.entry.subject_type, self.entry.subject_id)

    @strawberry.field
    def detail(self) -> str | None:
        return self.entry.detail


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
    edges = [
        AuditEntryEdge(cursor=cursor, node=AuditEntry(entry=e, viewer=viewer)) for cursor, e in page.items
    ]
    return AuditEntryConnection(edges=edges, page_info=page_info(page, after), total_count=page.total)  # type: ignore[arg-type]

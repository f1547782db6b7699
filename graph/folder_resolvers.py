"""Resolvers of the client folder's notes and monitoring: read arguments, call one use case, map the
result. Query and Mutation (graph/queries.py, graph/mutations.py) inherit these fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from domain.model import Viewer
from domain.use_cases import monitoring, notes
from domain.use_cases.monitoring import EntryInput
from graph import ids
from graph.context import GraphInfo
from graph.folder_inputs import (
    AddMonitoringEntryInput,
    AddMonitoringTopicInput,
    AddNoteInput,
    EditNoteInput,
    UpdateMonitoringEntryInput,
    UpdateMonitoringTopicInput,
)
from graph.types.monitoring import MonitoringEntry, MonitoringStatisticsRow, MonitoringTopic
from graph.types.node import Node
from graph.types.note import Note


def _entry_input(input: AddMonitoringEntryInput | UpdateMonitoringEntryInput) -> EntryInput:
    """What an add or an update of a monitoring entry gives (an update: None leaves a field)."""
    return EntryInput(
        input.contact_at,
        input.channel,
        input.duration_minutes,
        _topic_ids(input.topic_ids),
        input.outcome,
        input.note,
    )


def _topic_ids(given: list[strawberry.ID] | None) -> list[int] | None:
    if given is None:
        return None
    return [ids.decode(t, "MonitoringTopic", "input.topicIds") for t in given]


async def folder_node(info: GraphInfo, viewer: Viewer, kind: str, row_id: int) -> Node | None:
    """What `node(id)` finds of the client folder; None for another kind."""
    deps = info.context.deps
    if kind == "Note":
        return Note.of(await notes.get_note(deps, viewer, row_id), viewer)
    if kind == "MonitoringEntry":
        entry, catalogue = await monitoring.get_monitoring_entry(deps, viewer, row_id)
        return MonitoringEntry.of(entry, catalogue, viewer)
    if kind == "MonitoringTopic":
        return MonitoringTopic.of(*await monitoring.get_monitoring_topic(deps, viewer, row_id))
    return None


@strawberry.type
class FolderQueries:
    @strawberry.field(description="Staff: the monitoring catalogue, top-level categories with their options.")
    async def monitoring_topics(self, info: GraphInfo) -> list[MonitoringTopic]:
        viewer = await info.context.viewer()
        catalogue = await monitoring.monitoring_topics(info.context.deps, viewer)
        return [MonitoringTopic.of(t, catalogue) for t in catalogue.categories()]

    @strawberry.field(
        description="Admins: documented contacts counted for funders; small counts suppressed. The range "
        "is widened to whole calendar months (UTC)."
    )
    async def monitoring_statistics(
        self,
        info: GraphInfo,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        by_counsellor: bool | None = False,
    ) -> list[MonitoringStatisticsRow]:
        viewer = await info.context.viewer()
        report = await monitoring.monitoring_statistics(
            info.context.deps, viewer, from_, to, bool(by_counsellor)
        )
        return [
            MonitoringStatisticsRow(cell=c, catalogue=report.catalogue, viewer=viewer) for c in report.cells
        ]


@strawberry.type
class FolderMutations:
    @strawberry.mutation
    async def add_note(self, info: GraphInfo, input: AddNoteInput) -> Note:
        viewer = await info.context.viewer()
        client_id = ids.decode(input.client_id, "Client", "input.clientId")
        return Note.of(await notes.add_note(info.context.deps, viewer, client_id, input.text), viewer)

    @strawberry.mutation
    async def edit_note(self, info: GraphInfo, input: EditNoteInput) -> Note:
        viewer = await info.context.viewer()
        note_id = ids.decode(input.id, "Note", "input.id")
        return Note.of(await notes.edit_note(info.context.deps, viewer, note_id, input.text), viewer)

    @strawberry.mutation(description="Returns the id of the deleted note.")
    async def delete_note(self, info: GraphInfo, id: strawberry.ID) -> strawberry.ID:
        viewer = await info.context.viewer()
        deleted = await notes.delete_note(info.context.deps, viewer, ids.decode(id, "Note"))
        return ids.encode("Note", deleted)

    @strawberry.mutation(description="Admins.")
    async def add_monitoring_topic(self, info: GraphInfo, input: AddMonitoringTopicInput) -> MonitoringTopic:
        viewer = await info.context.viewer()
        parent = ids.decode_optional(input.parent_id, "MonitoringTopic", "input.parentId")
        topic, catalogue = await monitoring.add_monitoring_topic(
            info.context.deps, viewer, input.name, parent
        )
        return MonitoringTopic.of(topic, catalogue)

    @strawberry.mutation(description="Admins.")
    async def update_monitoring_topic(
        self, info: GraphInfo, input: UpdateMonitoringTopicInput
    ) -> MonitoringTopic:
        viewer = await info.context.viewer()
        topic_id = ids.decode(input.id, "MonitoringTopic", "input.id")
        topic, catalogue = await monitoring.update_monitoring_topic(
            info.context.deps, viewer, topic_id, input.name, input.active
        )
        return MonitoringTopic.of(topic, catalogue)

    @strawberry.mutation
    async def add_monitoring_entry(self, info: GraphInfo, input: AddMonitoringEntryInput) -> MonitoringEntry:
        viewer = await info.context.viewer()
        client_id = ids.decode(input.client_id, "Client", "input.clientId")
        given = _entry_input(input)
        entry, catalogue = await monitoring.add_monitoring_entry(info.context.deps, viewer, client_id, given)
        return MonitoringEntry.of(entry, catalogue, viewer)

    @strawberry.mutation
    async def update_monitoring_entry(
        self, info: GraphInfo, input: UpdateMonitoringEntryInput
    ) -> MonitoringEntry:
        viewer = await info.context.viewer()
        entry_id = ids.decode(input.id, "MonitoringEntry", "input.id")
        given = _entry_input(input)
        entry, catalogue = await monitoring.update_monitoring_entry(
            info.context.deps, viewer, entry_id, given
        )
        return MonitoringEntry.of(entry, catalogue, viewer)

    @strawberry.mutation
    async def delete_monitoring_entry(self, info: GraphInfo, id: strawberry.ID) -> strawberry.ID:
        viewer = await info.context.viewer()
        deleted = await monitoring.delete_monitoring_entry(
            info.context.deps, viewer, ids.decode(id, "MonitoringEntry")
        )
        return ids.encode("MonitoringEntry", deleted)

"""Input types of the client folder: notes and monitoring."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph import enums


@strawberry.input
class AddNoteInput:
    client_id: strawberry.ID
    text: str


@strawberry.input
class EditNoteInput:
    id: strawberry.ID
    text: str


@strawberry.input
class AddMonitoringTopicInput:
    name: str
    parent_id: strawberry.ID | None = strawberry.field(
        default=None, description="Null for a top-level category."
    )


@strawberry.input
class UpdateMonitoringTopicInput:
    id: strawberry.ID
    name: str | None = None
    active: bool | None = None


@strawberry.input
class AddMonitoringEntryInput:
    client_id: strawberry.ID
    contact_at: datetime
    channel: enums.Channel
    duration_minutes: int
    topic_ids: list[strawberry.ID]
    outcome: str | None = None
    note: str | None = None


@strawberry.input
class UpdateMonitoringEntryInput:
    id: strawberry.ID
    contact_at: datetime | None = None
    channel: enums.Channel | None = None
    duration_minutes: int | None = None
    topic_ids: list[strawberry.ID] | None = None
    outcome: str | None = None
    note: str | None = None

"""The deployment's routing settings (staff)."""

from __future__ import annotations

import strawberry

from domain import model
from graph.context import GraphInfo
from graph.types.counsellor import Counsellor, counsellor_by_id


@strawberry.type
class Settings:
    settings: strawberry.Private[model.Settings]
    viewer: strawberry.Private[model.Viewer]

    @strawberry.field(
        description="Takes mail requests when nobody else can; never becomes anyone's primary through that."
    )
    async def fallback_counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info.context, self.viewer, self.settings.fallback_counsellor_id)

    @strawberry.field(
        description="Seconds a chat waits for a busy primary before it is offered to others (0: none)."
    )
    def primary_chat_wait_seconds(self) -> int:
        return self.settings.primary_chat_wait_seconds

    @strawberry.field(description="Seconds without a sign of life after which a counsellor goes OFFLINE.")
    def presence_timeout_seconds(self) -> int:
        return self.settings.presence_timeout_seconds

    @strawberry.field(description="Seconds to accept an assigned chat before it is offered again; null: off.")
    def accept_timeout_seconds(self) -> int | None:
        return self.settings.accept_timeout_seconds

"""The history of a client's primary counsellor, as the viewer may read it."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import model
from domain.visibility import change_view, client_view
from graph import enums, ids
from graph.context import GraphInfo
from graph.types.client import Client, client_and_holders
from graph.types.counsellor import Counsellor, counsellor_by_id


@strawberry.type
class PrimaryCounsellorChange:
    change: strawberry.Private[model.PrimaryCounsellorChange]
    viewer: strawberry.Private[model.Viewer]
    id: strawberry.ID

    @classmethod
    def of(cls, change: model.PrimaryCounsellorChange, viewer: model.Viewer) -> PrimaryCounsellorChange:
        shown = change_view(viewer, change)
        return cls(id=ids.encode("PrimaryCounsellorChange", change.id), change=shown, viewer=viewer)

    @strawberry.field
    async def client(self, info: GraphInfo) -> Client:
        # In full or redacted: the previous primary is sent the change, not the client.
        found = await client_and_holders(info, self.viewer, self.change.client_id)
        assert found is not None  # history rows always name an existing client
        return Client.of(client_view(self.viewer, *found), self.viewer, info.context)

    @strawberry.field
    async def previous_counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info.context, self.viewer, self.change.previous_counsellor_id)

    @strawberry.field
    async def new_counsellor(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info.context, self.viewer, self.change.new_counsellor_id)

    @strawberry.field
    def source(self) -> enums.AssignmentSource:
        return self.change.source

    @strawberry.field(description="Who changed it by hand; null for automatic changes.")
    async def changed_by(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info.context, self.viewer, self.change.changed_by_id)

    @strawberry.field
    def reason(self) -> str | None:
        return self.change.reason

    @strawberry.field
    def changed_at(self) -> datetime:
        return self.change.changed_at

"""Notes of the client folder (Notizen): for staff who see the client, never for the client."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain import model
from domain.notes import Note as DomainNote
from domain.ports import Page
from domain.visibility import client_view
from graph import ids
from graph.context import GraphInfo
from graph.paging import PageInfo, page_info
from graph.types.counsellor import Counsellor, counsellor_by_id
from graph.types.node import Node

if TYPE_CHECKING:
    from graph.types.client import Client


async def folder_client(info: GraphInfo, viewer: model.Viewer, client_id: int) -> Client:
    """The client of a folder record the viewer reached: they see the client (a folder record is
    reached only through a client they see), so in full, or redacted should that change meanwhile."""
    from graph.types.client import Client, client_and_holders  # the client refers back

    found = await client_and_holders(info, viewer, client_id)
    assert found is not None, "a folder record's client is never deleted"
    return Client.of(client_view(viewer, *found), viewer, info.context)


@strawberry.type(description="A staff note in a client's folder (Notizen).")
class Note(Node):
    note: strawberry.Private[DomainNote]
    viewer: strawberry.Private[model.Viewer]

    @classmethod
    def of(cls, note: DomainNote, viewer: model.Viewer) -> Note:
        return cls(id=ids.encode("Note", note.id), note=note, viewer=viewer)

    @strawberry.field
    async def client(self, info: GraphInfo) -> Annotated[Client, strawberry.lazy("graph.types.client")]:
        return await folder_client(info, self.viewer, self.note.client_id)

    @strawberry.field(description="Null once the author's account is gone.")
    async def author(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info.context, self.viewer, self.note.author_id)

    @strawberry.field
    def text(self) -> str:
        return self.note.text

    @strawberry.field
    def created_at(self) -> datetime:
        return self.note.created_at

    @strawberry.field
    def edited_at(self) -> datetime | None:
        return self.note.edited_at


@strawberry.type
class NoteEdge:
    cursor: str
    node: Note


@strawberry.type
class NoteConnection:
    edges: list[NoteEdge]
    page_info: PageInfo
    total_count: int


def note_connection(page: Page[DomainNote], viewer: model.Viewer, after: str | None) -> NoteConnection:
    edges = [NoteEdge(cursor=cursor, node=Note.of(n, viewer)) for cursor, n in page.items]
    return NoteConnection(edges=edges, page_info=page_info(page, after), total_count=page.total)  # type: ignore[arg-type]

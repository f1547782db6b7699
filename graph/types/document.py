"""Documents in a client's folder, for staff who see the client."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import model
from domain.ports import Page
from domain.use_cases import documents
from domain.visibility import client_view
from graph import ids
from graph.context import GraphInfo
from graph.paging import PageInfo, page_info, page_size
from graph.types.client import Client, client_and_holders
from graph.types.counsellor import Counsellor, counsellor_by_id
from graph.types.node import Node


@strawberry.type(description="A file in a client's folder (Dokumente).")
class Document(Node):
    document: strawberry.Private[model.Document]
    viewer: strawberry.Private[model.Viewer]

    @classmethod
    def of(cls, document: model.Document, viewer: model.Viewer) -> Document:
        """A document a use case returned to staff who see its client."""
        return cls(id=ids.encode("Document", document.id), document=document, viewer=viewer)

    @strawberry.field
    async def client(self, info: GraphInfo) -> Client:
        found = await client_and_holders(info, self.viewer, self.document.client_id)
        assert found is not None  # a document row always names an existing client
        return Client.of(client_view(self.viewer, *found), self.viewer, info.context)

    @strawberry.field
    def file_name(self) -> str:
        return self.document.file_name

    @strawberry.field(description="Judged from the content, e.g. application/pdf.")
    def content_type(self) -> str:
        return self.document.content_type

    @strawberry.field
    def size_bytes(self) -> int:
        return self.document.size_bytes

    @strawberry.field
    async def uploaded_by(self, info: GraphInfo) -> Counsellor | None:
        return await counsellor_by_id(info.context, self.viewer, self.document.uploaded_by_id)

    @strawberry.field
    def uploaded_at(self) -> datetime:
        return self.document.uploaded_at

    @strawberry.field(description="A link that downloads the file, valid for a few minutes.")
    def download_url(self, info: GraphInfo) -> str:
        assert self.viewer.counsellor_id is not None  # only staff reach documents
        now = info.context.deps.clock.now()
        return info.context.state.links.url(self.document.id, self.viewer.counsellor_id, now)


@strawberry.type
class DocumentEdge:
    cursor: str
    node: Document


@strawberry.type
class DocumentConnection:
    edges: list[DocumentEdge]
    page_info: PageInfo
    total_count: int


def document_connection_of(
    page: Page[model.Document], viewer: model.Viewer, after: str | None
) -> DocumentConnection:
    edges = [DocumentEdge(cursor=cursor, node=Document.of(d, viewer)) for cursor, d in page.items]
    return DocumentConnection(edges=edges, page_info=page_info(page, after), total_count=page.total)  # type: ignore[arg-type]


async def client_documents(
    info: GraphInfo, viewer: model.Viewer, client_id: int, first: int | None, after: str | None
) -> DocumentConnection:
    """A page of a client's documents; the caller checked that the viewer is staff who see them."""
    size = page_size(first)
    page = await documents.document_page_unchecked(info.context.deps, client_id, size, after)
    return document_connection_of(page, viewer, after)

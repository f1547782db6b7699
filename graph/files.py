"""`GET /files/<token>`: a document's file through its short-lived signed link (graph/file_links.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from domain.errors import DomainError, NotFound
from domain.use_cases import documents
from graph.context import AppState
from graph.errors import refusal
from graph.file_links import LinkRefused

CHUNK_BYTES = 64 * 1024
# Fallback for clients that do not read filename*: printable ASCII without quotes or backslashes.
_ASCII = {chr(c) for c in range(32, 127)} - {'"', "\\", "%", ";"}


def content_disposition(file_name: str) -> str:
    """`attachment` with the name for every client (RFC 6266): an ASCII fallback and the UTF-8 name."""
    fallback = "".join(c if c in _ASCII else "_" for c in file_name) or "document"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


def _refused(status: int, message: str) -> Response:
    return Response(
        json.dumps(refusal(status, message)),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start : start + CHUNK_BYTES]


def file_download(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    async def download(request: Request) -> Response:
        deps = state.deps
        try:
            link = state.links.read(request.path_params["token"], deps.clock.now())
            document, data = await documents.open_document(deps, link.document_id, link.counsellor_id)
        except LinkRefused as refused:
            return _refused(refused.status, refused.message)
        except NotFound:
            return _refused(404, "This document no longer exists, or is no longer yours to see.")
        except DomainError as error:
            return _refused(503 if error.code == "SERVICE_UNAVAILABLE" else 400, error.message)
        headers = {
            "Content-Disposition": content_disposition(document.file_name),
            "Content-Length": str(len(data)),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        return StreamingResponse(_chunks(data), media_type=document.content_type, headers=headers)

    return download

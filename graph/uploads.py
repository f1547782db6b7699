"""File uploads through the GraphQL multipart request spec, accepted only where they are safe.

A multipart/form-data POST is a "simple" request a foreign page can send from a browser without
asking (no CORS preflight), with the visitor's cookies: strawberry turns uploads off by default
for that reason (CVE-2024-47082). Stamm reads no cookies; the viewer comes from the Authorization
header alone, which a foreign page cannot set without a preflight that the server never grants.
On top of that a multipart request is refused unless it carries that header, and it may only
run a mutation (a query or subscription has no file to send).
"""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from cross_web.request import StarletteRequestAdapter
from cross_web.request._base import FormData
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from strawberry.file_uploads import Upload

from domain.errors import BadUserInput
from domain.ports import IncomingFile
from graph.transport import CleanGraphQL

__all__ = ["Upload", "UploadingGraphQL", "uploaded_file"]

# The parts besides the file: `operations` and `map` (their size is bounded per part).
MAX_FIELDS = 2
MAX_FILES = 1
MAX_FIELD_BYTES = 64 * 1024


class _BoundedForm(StarletteRequestAdapter):
    """Reads a multipart body with tight limits: one file, the two JSON parts, each small."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self._starlette = request

    async def get_form_data(self) -> FormData:
        try:
            form = await self._starlette.form(
                max_files=MAX_FILES, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES
            )
        except (MultiPartException, StarletteHTTPException) as exc:
            raise ValueError("unreadable multipart body") from exc
        return FormData(files=form, form=form)


class UploadingGraphQL(CleanGraphQL):
    """The transport with multipart uploads on, for mutations sent with a bearer token only."""

    request_adapter_class = _BoundedForm

    async def parse_multipart(self, request: Any) -> dict[str, str]:
        if not request.headers.get("authorization"):
            raise HTTPException(401, "A multipart request must carry an Authorization header.")
        data = await super().parse_multipart(request)
        if not _mutation(data):
            raise HTTPException(400, "multipart/form-data is accepted for mutations only.")
        return data


def _mutation(data: object) -> bool:
    """Whether the operation is a mutation; a document that does not parse is left to GraphQL."""
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        return True  # not an operation at all: strawberry refuses it with its own message
    try:
        document = parse(data["query"])
    except GraphQLError:
        return True
    name = data.get("operationName")
    operation = get_operation_ast(document, name if isinstance(name, str) else None)
    return operation is None or operation.operation is OperationType.MUTATION


def uploaded_file(value: object) -> IncomingFile:
    """The `file` argument as the use case reads it; BAD_USER_INPUT when no file was sent."""
    if not (hasattr(value, "read") and hasattr(value, "filename")):
        raise BadUserInput("file must be a file sent as a multipart request.", field="file")
    return value

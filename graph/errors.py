"""Every error leaves with an `extensions.code`; unexpected ones are logged and masked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import ArgumentNode, DocumentNode, GraphQLError, Node, ObjectFieldNode, Visitor, visit
from strawberry.extensions import SchemaExtension

from domain.errors import DomainError

_VARIABLE = re.compile(r"^Variable '\$(?P<name>\w+)'.*?(?: at '(?P<path>[^']+)')?;")
_VARIABLE_TOP = re.compile(r"^Variable '\$(?P<name>\w+)'")
_VARIABLE_AT = re.compile(r"^Variable '\$(?P<name>\w+)' has invalid value at (?P<path>[\w.\[\]]+):")
_ARGUMENT = re.compile(
    r"Argument '(?P<name>[\w.]+)'|Field '(?P<field>\w+)' of required type|at '(?P<path>[\w.\[\]]+)'"
)
_VALUE_ERRORS = ("cannot represent", "does not exist in", "Expected value of type", "of required type")
# A variable's value that does not fit its type (BAD_USER_INPUT, routing.md); other messages about
# a variable are the document's fault (never used, not defined, wrong position): validation.
_VARIABLE_VALUE = ("has invalid value", "got invalid value", "was not provided", "must not be null")


# The code of a request refused by the HTTP transport before any GraphQL ran (GraphQL over HTTP).
HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def refusal(status: int, message: str) -> dict[str, Any]:
    """The body of an HTTP refusal: a GraphQL response without data, its error coded by status."""
    code = HTTP_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_SERVER_ERROR")
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def domain_error(exc: DomainError) -> GraphQLError:
    extensions: dict[str, Any] = {"code": exc.code}
    if exc.field:
        extensions["field"] = exc.field
    return GraphQLError(exc.message, extensions=extensions | exc.extensions)


def argument_path(document: DocumentNode | None, node: Node | None) -> str | None:
    """The argument (and input fields within it) whose literal value contains `node`, e.g. input.message."""
    if document is None or node is None or node.loc is None:
        return None
    start, end = node.loc.start, node.loc.end
    path: list[str] = []

    class Enclosing(Visitor):
        def enter(self, found: Node, *_: object) -> None:
            enclosing = isinstance(found, (ArgumentNode, ObjectFieldNode)) and found.loc is not None
            if enclosing and found.loc.start <= start and end <= found.loc.end:  # type: ignore[union-attr]
                path.append(found.name.value)  # type: ignore[attr-defined]

    visit(document, Enclosing())
    return ".".join(path) or None


def _bad_input(error: GraphQLError, document: DocumentNode | None) -> GraphQLError | None:
    """A coercion error of a variable or literal argument as BAD_USER_INPUT naming the field."""
    message = error.message
    if message.startswith("Variable '$") and not any(m in message for m in _VARIABLE_VALUE):
        return None
    if match := _VARIABLE_AT.match(message):
        return _with(error, "BAD_USER_INPUT", match.group("name") + match.group("path"))
    if match := _VARIABLE.match(message):
        field = match.group("path") or match.group("name")
        return _with(error, "BAD_USER_INPUT", field)
    if match := _VARIABLE_TOP.match(message):
        return _with(error, "BAD_USER_INPUT", match.group("name"))
    if any(marker in message for marker in _VALUE_ERRORS):
        found = _ARGUMENT.search(message)
        field = next((g for g in found.groups() if g), None) if found else None
        first_node = error.nodes[0] if error.nodes else None
        return _with(error, "BAD_USER_INPUT", field or argument_path(document, first_node))
    return None


def _with(
    error: GraphQLError,
    code: str,
    field: str | None = None,
    message: str | None = None,
    more: dict[str, object] | None = None,
) -> GraphQLError:
    extensions: dict[str, Any] = {"code": code}
    if field:
        extensions["field"] = field
    extensions.update(more or {})
    return GraphQLError(
        message or error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def classify(error: GraphQLError, document: DocumentNode | None = None) -> GraphQLError:
    """The error as a client should see it."""
    original = error.original_error
    if isinstance(original, DomainError):
        return _with(error, original.code, original.field, original.message, original.extensions)
    if original is None or isinstance(original, GraphQLError):
        if error.extensions and "code" in error.extensions:
            return error
        if error.message.startswith("Syntax Error"):
            return _with(error, "GRAPHQL_PARSE_FAILED")
        if error.path is None:
            return _bad_input(error, document) or _with(error, "GRAPHQL_VALIDATION_FAILED")
        return _bad_input(error, document) or _with(
            error, "INTERNAL_SERVER_ERROR", message="Unexpected error."
        )
    return _with(error, "INTERNAL_SERVER_ERROR", message="Unexpected error.")


class ErrorCodes(SchemaExtension):
    """Adds codes to parse, validation and coercion errors and masks unexpected ones."""

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        except GraphQLError as error:  # raised by ParserCache.on_parse, before any result exists
            annotate(error)
            raise
        context = self.execution_context
        result_errors = getattr(context.result, "errors", None) or []
        # Parse errors reach the client without passing through context.result: annotate in place.
        for found in [*(context.pre_execution_errors or []), *result_errors]:
            annotate(found, context.graphql_document)


def annotate(error: GraphQLError, document: DocumentNode | None = None) -> None:
    """Give `error` the code, field and message `classify` chose, in place."""
    if error.extensions and "code" in error.extensions:
        return
    shown = classify(error, document)
    error.message = shown.message
    error.extensions = shown.extensions


def is_expected(error: GraphQLError) -> bool:
    """Expected errors (bad input, permissions) are not logged as failures."""
    original = error.original_error
    return original is None or isinstance(original, (DomainError, GraphQLError))

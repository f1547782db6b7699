"""The schema, with parse/validation caches and error codes."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import ExecutionContext

from graph.errors import ErrorCodes, annotate, is_expected
from graph.hardening import ApiLimits
from graph.live import SharingExecutor
from graph.metrics import OperationMetrics
from graph.mutations import Mutation
from graph.queries import Query
from graph.subscriptions import Subscription
from graph.types.client import Client
from graph.types.counsellor import Counsellor
from graph.types.document import Document
from graph.types.monitoring import MonitoringEntry, MonitoringTopic
from graph.types.note import Note
from graph.types.request import Request

log = logging.getLogger("stamm.graphql")


class StammSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log only the unexpected: bad input and permission errors are normal traffic.

        Codes are added here too: a parse error from the parser cache never reaches the
        ErrorCodes extension's view of the result.
        """
        document = execution_context.graphql_document if execution_context else None
        for error in errors:
            if not is_expected(error):
                log.error("unexpected error: %s", error.message, exc_info=error.original_error)
            annotate(error, document)


def build_schema(limits: ApiLimits | None = None, **options: Any) -> StammSchema:
    """The schema with caches, error codes and the request limits (defaults when None)."""
    extensions: list[Any] = [
        ErrorCodes,
        OperationMetrics,
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        *(limits or ApiLimits()).extensions(),
    ]
    return StammSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Counsellor, Client, Request, Note, MonitoringTopic, MonitoringEntry, Document],
        extensions=extensions,
        execution_context_class=SharingExecutor,
        **options,
    )


schema = build_schema()

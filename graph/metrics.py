"""`/metrics`: what this process reports, in the Prometheus text format (prometheus-client).

Each process has a registry of its own and serves only its own figures; Prometheus scrapes
every process (docs/operations.md). No label carries personal data: every label value comes
from a fixed set known here (event kinds, channels, routing reasons, operation types,
outcomes, subscription fields of the schema, routes, status classes); anything else counts as
`other`. Operation names are the client's words and never become labels.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from functools import partial
from typing import Any

from graphql import FieldNode, OperationDefinitionNode
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from domain.events import (
    CounsellorStateChanged,
    Event,
    PrimaryCounsellorChanged,
    RequestChanged,
    SessionsEnded,
    StateMayBeStale,
)
from domain.model import Channel, RequestStatus, RoutingReason
from domain.use_cases.queue import queue_now
from graph import outlets
from graph.access_log import answered

log = logging.getLogger(__name__)

OTHER = "other"
EVENT_KINDS = tuple(
    kind.__name__
    for kind in (
        CounsellorStateChanged,
        RequestChanged,
        PrimaryCounsellorChanged,
        SessionsEnded,
        StateMayBeStale,
    )
)
CHANNELS = tuple(c.value for c in Channel)
QUEUED = "QUEUED"
DECISIONS = (*(r.value for r in RoutingReason), QUEUED)
OPERATION_TYPES = ("query", "mutation", "subscription")
# ok: no errors; error: an expected refusal (bad input, not found, ...); failed: an unexpected
# error; invalid: refused before execution (parse, validation, unknown operation).
OUTCOMES = ("ok", "error", "failed", "invalid")
GAP_CAUSES = ("reconnect", "overflow")
ROUTES = ("/graphql", "/metrics", "/healthz", "/readyz")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WAITS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def bounded(value: str, allowed: Iterable[str]) -> str:
    """`value` if it is one of `allowed`, else `other`: a label never takes a value from outside."""
    return value if value in allowed else OTHER


class PrometheusObserver:
    """The observer port (domain/observer.py) on a prometheus-client registry of its own."""

    def __init__(self, subscription_fields: Iterable[str] = ()) -> None:
        self.registry = CollectorRegistry()
        self.fields = tuple(subscription_fields)
        r = self.registry
        self.websockets = Gauge("stamm_websockets_open", "Open websocket connections.", registry=r)
        self.subscriptions = Gauge(
            "stamm_subscriptions_open", "Running subscriptions by schema field.", ["field"], registry=r
        )
        self.published = Counter(
            "stamm_events_published", "Events handed to the bus by this process.", ["kind"], registry=r
        )
        self.received = Counter(
            "stamm_events_received", "Events this process received from the bus.", ["kind"], registry=r
        )
        self.lost = Counter(
            "stamm_events_lost",
            "Events dropped before they left this process (outbox full, bus unreachable).",
            ["kind"],
            registry=r,
        )
        self.gaps = Counter(
            "stamm_bus_gaps",
            "Times local subscribers may have missed events: the bus reconnected, or a subscriber's queue overflowed.",
            ["cause"],
            registry=r,
        )
        self.reconnects = Counter(
            "stamm_bus_reconnects", "Times the event bus reconnected after losing Redis.", registry=r
        )
        self.bus_up = Gauge("stamm_bus_connected", "1 while the event bus is connected.", registry=r)
        self.fanout = Histogram(
            "stamm_fanout_seconds",
            "From an event's arrival in this process until one local subscriber has handled it (sent or skipped).",
            buckets=FAST,
            registry=r,
        )
        self.dispatch_runs = Counter(
            "stamm_dispatch_runs", "Dispatch runs over the queue.", ["outcome"], registry=r
        )
        self.dispatch_moved = Counter(
            "stamm_dispatch_requests_moved", "Queued requests dispatch runs assigned.", registry=r
        )
        self.dispatch_seconds = Histogram(
            "stamm_dispatch_seconds", "Duration of dispatch runs.", buckets=FAST, registry=r
        )
        self.decisions = Counter(
            "stamm_routing_decisions",
            "Routing outcomes committed by this process: the routing reason of an assignment, or QUEUED.",
            ["reason"],
            registry=r,
        )
        self.queue_length = Gauge(
            "stamm_queue_length",
            "Requests QUEUED now, by channel (the same on every process).",
            ["channel"],
            registry=r,
        )
        self.queue_oldest = Gauge(
            "stamm_queue_oldest_wait_seconds",
            "How long the oldest QUEUED request has waited, by channel (0 when none waits).",
            ["channel"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "stamm_queue_wait_seconds",
            "From submission to assignment, by channel, for assignments this process committed.",
            ["channel"],
            buckets=WAITS,
            registry=r,
        )
        self.operations = Counter(
            "stamm_graphql_operations",
            "GraphQL operations by type and outcome.",
            ["type", "outcome"],
            registry=r,
        )
        self.operation_seconds = Histogram(
            "stamm_graphql_operation_seconds",
            "Duration of GraphQL queries and mutations (subscriptions run as long as they are open).",
            ["type"],
            buckets=FAST,
            registry=r,
        )
        self.responses = Counter(
            "stamm_http_responses",
            "HTTP responses by route and status class.",
            ["route", "status"],
            registry=r,
        )
        self._initialise()

    def _initialise(self) -> None:
        """Every series exists from the start at 0, so rates and alerts work before the first event."""
        for kind in EVENT_KINDS:
            self.published.labels(kind)
            self.received.labels(kind)
            self.lost.labels(kind)
        for cause in GAP_CAUSES:
            self.gaps.labels(cause)
        for field in self.fields:
            self.subscriptions.labels(field)
        for outcome in ("ok", "failed"):
            self.dispatch_runs.labels(outcome)
        for reason in DECISIONS:
            self.decisions.labels(reason)
        for channel in CHANNELS:
            self.queue_length.labels(channel)
            self.queue_oldest.labels(channel)
            self.queue_wait.labels(channel)
        for kind in OPERATION_TYPES:
            self.operation_seconds.labels(kind)
            for outcome in OUTCOMES:
                self.operations.labels(kind, outcome)
        for route in ROUTES:
            for status in STATUS_CLASSES[1:]:
                self.responses.labels(route, status)

    # The port (domain/observer.py) ----------------------------------------------------------

    def event_received(self, kind: str) -> None:
        self.received.labels(bounded(kind, EVENT_KINDS)).inc()

    def event_lost(self, kind: str) -> None:
        self.lost.labels(bounded(kind, EVENT_KINDS)).inc()

    def bus_gap(self, cause: str) -> None:
        self.gaps.labels(bounded(cause, GAP_CAUSES)).inc()
        if cause == "reconnect":
            self.reconnects.inc()

    def delivered(self, seconds: float) -> None:
        self.fanout.observe(seconds)

    def event_published(self, event: Event) -> None:
        self.published.labels(bounded(type(event).__name__, EVENT_KINDS)).inc()
        if not isinstance(event, RequestChanged):
            return
        request = event.request
        if event.assigned and request.routing_reason is not None:
            self.decisions.labels(bounded(request.routing_reason.value, DECISIONS)).inc()
            if request.assigned_at is not None:
                waited = (request.assigned_at - request.created_at).total_seconds()
                self.queue_wait.labels(bounded(request.channel.value, CHANNELS)).observe(max(waited, 0.0))
        elif request.status is RequestStatus.QUEUED:
            self.decisions.labels(QUEUED).inc()

    def dispatch_run(self, moved: int, seconds: float, failed: bool) -> None:
        self.dispatch_runs.labels("failed" if failed else "ok").inc()
        self.dispatch_moved.inc(moved)
        self.dispatch_seconds.observe(seconds)

    # What graph reports ---------------------------------------------------------------------

    def queue_now(self, channel: str, length: int, oldest_wait_seconds: float) -> None:
        self.queue_length.labels(bounded(channel, CHANNELS)).set(length)
        self.queue_oldest.labels(bounded(channel, CHANNELS)).set(oldest_wait_seconds)

    def operation(self, kind: str, outcome: str, seconds: float | None) -> None:
        kind = bounded(kind, OPERATION_TYPES)
        self.operations.labels(kind, bounded(outcome, OUTCOMES)).inc()
        if seconds is not None:
            self.operation_seconds.labels(kind).observe(seconds)

    def subscription_opened(self, field: str) -> str:
        label = bounded(field, self.fields)
        self.subscriptions.labels(label).inc()
        return label

    def subscription_closed(self, label: str) -> None:
        self.subscriptions.labels(label).dec()

    def response(self, path: str, status: int) -> None:
        self.responses.labels(bounded(path, ROUTES), bounded(f"{status // 100}xx", STATUS_CLASSES)).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def observer_of(context: Any) -> PrometheusObserver | None:
    """The Prometheus observer of a request's context, if the app has one (tests and tools do not)."""
    found = getattr(getattr(context, "state", None), "observer", None)
    return found if isinstance(found, PrometheusObserver) else None


# GraphQL operations and subscriptions ----------------------------------------------------------


def _outcome(errors: list[Any] | None) -> str:
    if not errors:
        return "ok"
    if any((getattr(e, "extensions", None) or {}).get("code") == "INTERNAL_SERVER_ERROR" for e in errors):
        return "failed"
    return "error"


def _subscription_field(document: Any) -> str:
    """The root field of the (validated) subscription: a field of the schema, never client text."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            for selection in definition.selection_set.selections:
                if isinstance(selection, FieldNode):
                    return str(selection.name.value)
    return OTHER


class OperationMetrics(SchemaExtension):
    """Counts operations by type and outcome, times queries and mutations, and keeps the gauge of
    running subscriptions by field (a subscription's operation lasts as long as it runs)."""

    def __init__(self) -> None:
        self._field: str | None = None
        self._executed = False  # False: refused before execution (parse, validation)
        self._failed = False

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._finish(time.perf_counter() - started)

    def on_execute(self) -> Iterator[None]:
        self._executed = True
        yield
        context = self.execution_context
        observer = observer_of(context.context)
        document = context.graphql_document
        if observer and document and self._field is None and _operation_type(context) == "subscription":
            self._field = observer.subscription_opened(_subscription_field(document))

    def on_stream_result(self, result: Any) -> Iterator[None]:
        self._failed = self._failed or bool(getattr(result, "errors", None))
        yield

    def _finish(self, seconds: float) -> None:
        context = self.execution_context
        observer = observer_of(context.context)
        if observer is None:
            return
        kind = _operation_type(context)
        if self._field is not None:
            outlet = outlets.current()
            if outlet is not None and outlet.handed_over:  # it runs on in its outlet
                outlet.when_closed(partial(observer.subscription_closed, self._field))
            else:
                observer.subscription_closed(self._field)
        if kind == OTHER or not self._executed:
            outcome = "invalid"
        elif kind == "subscription":
            outcome = "error" if self._failed else "ok"
        else:
            # strawberry keeps the execution's errors here too, despite the name
            outcome = _outcome(context.pre_execution_errors)
        observer.operation(kind, outcome, None if kind == "subscription" else seconds)


def _operation_type(context: Any) -> str:
    try:
        kind: OperationType = context.operation_type
    except Exception:  # no document, or no such operation: refused before execution
        return OTHER
    return str(kind.value)


# HTTP and websockets -----------------------------------------------------------------------------


class TrafficMetrics:
    """ASGI middleware: open websockets, and HTTP responses by route and status class."""

    def __init__(self, app: ASGIApp, observer: PrometheusObserver) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            self.observer.websockets.inc()
            try:
                await self.app(scope, receive, send)
            finally:
                self.observer.websockets.dec()
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        await answered(self.app, scope, receive, send, lambda status: self.observer.response(path, status))


def metrics_endpoint(
    observer: PrometheusObserver, token: str, refresh: Callable[[], Awaitable[None]]
) -> Callable[[Request], Awaitable[Response]]:
    """GET /metrics; with a token set, only with `Authorization: Bearer <token>` (else 401)."""

    async def metrics(request: Request) -> Response:
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return Response("unauthorized\n", status_code=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            await refresh()
        except Exception:  # the figures from memory still help when the database is away
            log.warning("metrics: the queue figures could not be read", exc_info=True)
        return Response(observer.exposition(), media_type=CONTENT_TYPE_LATEST)

    return metrics


def refresher(observer: PrometheusObserver, state: Any) -> Callable[[], Awaitable[None]]:
    """What a scrape reads fresh: the bus's connection and the queues (one grouped read)."""

    async def refresh() -> None:
        observer.bus_up.set(1 if state.bus.healthy else 0)
        for channel, now in (await queue_now(state.deps)).items():
            observer.queue_now(channel.value, now.length, now.oldest_wait_seconds)

    return refresh


def subscription_fields(schema: Any) -> list[str]:
    """The subscription fields of a strawberry schema, as clients name them (the only label values
    of `stamm_subscriptions_open`)."""
    found = schema.get_type_by_name("Subscription")
    return [schema.config.name_converter.get_graphql_name(f) for f in getattr(found, "fields", [])]

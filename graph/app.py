"""The Starlette app from what the composition root gives it: GraphQL over HTTP and websockets, health checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from graph.access_log import AccessLog
from graph.context import AppState, Context
from graph.exports import monitoring_export
from graph.files import file_download
from graph.hardening import ApiLimits, BodySizeLimit
from graph.metrics import TrafficMetrics, metrics_endpoint, refresher
from graph.schema import build_schema
from graph.uploads import UploadingGraphQL
from graph.web import web_routes


class StammGraphQL(UploadingGraphQL):
    def __init__(self, state: AppState, api: ApiLimits, allowed_origins: Sequence[str]) -> None:
        super().__init__(
            build_schema(api),
            # Without introspection GraphiQL cannot work: do not serve it either.
            graphql_ide="graphiql" if api.introspection else None,
            connection_init_wait_timeout=timedelta(seconds=api.ws_init_timeout_seconds),
            max_subscriptions_per_connection=api.ws_max_subscriptions,
            allowed_origins=allowed_origins,
            # Safe here, see graph/uploads.py: no cookies, and a bearer token required.
            multipart_uploads_enabled=True,
        )
        self.state = state
        self.max_message_bytes = api.max_body_bytes

    async def get_context(self, request: Request | WebSocket, response: object) -> Context:
        return Context(self.state, request)


class StammApp(Starlette):
    """The Starlette app, with the GraphQL websocket handed straight to its endpoint.

    Every middleware of the stack only passes websockets through, yet each keeps a coroutine frame
    alive for as long as the socket stays open: with thousands of chat widgets open, that was a
    tenth of the memory each costs. So the websocket skips the stack (still counted by the
    metrics); other paths take the usual way (the router closes them)."""

    def __init__(self, websocket: ASGIApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._websocket = websocket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and _route_path(scope) == "/graphql":
            scope["app"] = self
            await self._websocket(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path below the app's root path (behind a proxy that mounts it under a prefix)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def build_app(
    state: AppState,
    api: ApiLimits,
    allowed_origins: Sequence[str],
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]],
    metrics_token: str = "",
) -> Starlette:
    """The app serving `state`; `lifespan(app)` starts and stops what state relies on.

    With `state.observer` (graph.metrics.PrometheusObserver) it serves /metrics, behind
    `metrics_token` when one is set."""
    graphql = StammGraphQL(state, api, allowed_origins)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        try:
            async with state.deps.uow(write=False) as uow:
                await uow.settings.get()
        except Exception:
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        if not state.bus.healthy:
            return JSONResponse({"status": "event bus unreachable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/exports/monitoring.csv", monitoring_export(state), methods=["GET"]),
        Route("/files/{token}", file_download(state), methods=["GET"]),
        *web_routes(),
    ]
    middleware = [
        Middleware(AccessLog),
        # Pages on the listed origins (a service's own site embedding the widget) may call the
        # API over HTTP, preflight included; others get no CORS headers, so browsers refuse.
        # The websocket checks the same list (strawberry's allowed_origins).
        Middleware(
            CORSMiddleware,
            allow_origins=list(allowed_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
            max_age=600,
        ),
        Middleware(BodySizeLimit, max_bytes=api.max_body_bytes, upload_bytes=api.max_upload_bytes),
    ]
    if state.observer is not None:
        endpoint = metrics_endpoint(state.observer, metrics_token, refresher(state.observer, state))
        routes.insert(3, Route("/metrics", endpoint))  # before the web routes' catch-alls
        middleware.insert(0, Middleware(TrafficMetrics, observer=state.observer))
    websocket: ASGIApp = graphql
    if state.observer is not None:
        websocket = TrafficMetrics(graphql, observer=state.observer)
    app = StammApp(websocket, routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.stamm = state
    return app

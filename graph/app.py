"""The Starlette app: GraphQL over HTTP and websockets, health checks, and the dispatcher's lifecycle."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from domain.errors import Conflict
from domain.use_cases import Deps
from domain.use_cases.accounts import ensure_admin
from domain.use_cases.routing import Dispatcher
from graph.access_log import AccessLog
from graph.auth import Argon2Hasher, TokenSigner
from graph.config import Config, bus_channel_for
from graph.context import AppState, Context
from graph.hardening import BodySizeLimit
from graph.presence_keeper import PresenceKeeper
from graph.schema import build_schema
from graph.transport import CleanGraphQL
from persistence.crypto import TextCipher
from persistence.database import create_engines
from persistence.event_bus import EventBus
from persistence.migrate import migrate
from persistence.sweeper import QueueSweeper
from persistence.unit_of_work import SqlUnitOfWorkFactory

log = logging.getLogger("stamm")


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class StammGraphQL(CleanGraphQL):
    def __init__(self, state: AppState, config: Config) -> None:
        super().__init__(
            build_schema(config.api),
            # Without introspection GraphiQL cannot work: do not serve it either.
            graphql_ide="graphiql" if config.api.introspection else None,
            connection_init_wait_timeout=timedelta(seconds=config.api.ws_init_timeout_seconds),
            max_subscriptions_per_connection=config.api.ws_max_subscriptions,
            allowed_origins=config.allowed_origins,
        )
        self.state = state

    async def get_context(self, request: Request | WebSocket, response: object) -> Context:
        return Context(self.state, request)


def text_cipher(config: Config) -> TextCipher:
    """The cipher of request texts; a Config built by hand without a key gets a key for this run only."""
    return TextCipher(config.data_key or secrets.token_bytes(32))


async def _ensure_admin(deps: Deps, email: str, password: str) -> None:
    """Create the admin from the environment; another process creating it at once is fine."""
    try:
        if await ensure_admin(deps, email, password):
            log.info("created the admin from the environment")
    except (Conflict, IntegrityError):
        log.info("the admin from the environment exists")


def create_app(config: Config | None = None) -> Starlette:
    """The app; engines, bus and dispatcher start in its lifespan."""
    config = config or Config.from_env()
    engines = create_engines(config.database_url)
    bus = EventBus(config.broadcast_url, config.bus_channel or bus_channel_for(config.database_url))
    deps = Deps(
        uow=SqlUnitOfWorkFactory(engines, bus.publish, text_cipher(config)),
        clock=SystemClock(),
        hasher=Argon2Hasher(),
        limits=config.limits,
    )
    dispatcher = Dispatcher(deps)
    deps.dispatch = dispatcher.request
    presence = PresenceKeeper(deps)
    signer = TokenSigner(config.secret_key, config.token_ttl_seconds)
    state = AppState(deps=deps, signer=signer, bus=bus, presence=presence)
    graphql = StammGraphQL(state, config)
    sweeper = QueueSweeper(deps, dispatcher, bus, config.sweep_seconds, config.timer_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if config.migrate:
            await migrate(engines.write)
        await bus.connect()
        if config.admin_email and config.admin_password:
            await _ensure_admin(deps, config.admin_email, config.admin_password)
        await sweeper.start()
        await presence.start()
        try:
            yield
        finally:
            await presence.stop()
            await sweeper.stop()
            await dispatcher.stop()
            await bus.disconnect()
            await engines.dispose()

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        try:
            async with deps.uow(write=False) as uow:
                await uow.settings.get()
        except Exception:
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        if not bus.healthy:
            return JSONResponse({"status": "event bus unreachable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
        middleware=[Middleware(AccessLog), Middleware(BodySizeLimit, max_bytes=config.api.max_body_bytes)],
    )
    app.state.stamm = state
    return app

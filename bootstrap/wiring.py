"""The composition root: the one place that builds engines, bus, cipher, unit of work, use-case
dependencies, dispatcher, timers and the app from a Config, and starts and stops them.

Everything else keeps graph -> domain <- persistence; only this package (and the entry point
graph/main.py, which calls it) knows both sides.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette

from bootstrap.config import Config
from domain.errors import Conflict
from domain.ports import PasswordHasher
from domain.throttling import StoredThrottle
from domain.use_cases import Deps
from domain.use_cases.accounts import ensure_admin, staff_exists
from domain.use_cases.routing import Dispatcher
from graph.app import build_app
from graph.auth import Argon2Hasher, TokenSigner
from graph.context import AppState
from graph.demo import seed_demo
from graph.live import LiveView
from graph.presence_keeper import PresenceKeeper
from persistence.crypto import TextCipher
from persistence.database import create_engines
from persistence.event_bus import EventBus
from persistence.migrate import migrate
from persistence.redis_throttle import RedisThrottle
from persistence.sweeper import QueueSweeper
from persistence.unit_of_work import SqlUnitOfWorkFactory

log = logging.getLogger("stamm")

FIRST_ADMIN_HINT = (
    "No staff account exists, so nobody can sign in. Create the first admin: start once with "
    "STAMM_ADMIN_EMAIL and STAMM_ADMIN_PASSWORD set (it is created when missing)."
)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def text_cipher(config: Config) -> TextCipher:
    """The cipher of request texts; a Config built by hand without a key gets a key for this run only."""
    return TextCipher(config.data_key or secrets.token_bytes(32))


def counter_secret(secret_key: str) -> bytes:
    """The key of the attempt counters' hashes: derived from the secret key (which the processes of
    a deployment share), yet not the key that signs tokens."""
    return hmac.new(secret_key.encode(), b"stamm attempt counters", hashlib.sha256).digest()


def create_app(config: Config, *, hasher: PasswordHasher | None = None) -> Starlette:
    """The app on the database, bus and keys of `config`; they start and stop in its lifespan.

    `hasher` replaces argon2 at its production cost (the e2e tests pass a cheaper argon2).
    """
    engines = create_engines(config.database_url)
    channel = config.event_channel()
    bus = EventBus(config.broadcast_url, channel)
    uow = SqlUnitOfWorkFactory(engines, bus.publish, text_cipher(config))
    # Several processes share a Redis bus: their abuse counters live there too (else in the database).
    shared = config.broadcast_url.startswith(("redis://", "rediss://"))
    throttle = RedisThrottle(config.broadcast_url, channel, StoredThrottle(uow)) if shared else None
    deps = Deps(
        uow=uow,
        clock=SystemClock(),
        hasher=hasher or Argon2Hasher(),
        limits=config.limits,
        throttle=throttle,
        counter_secret=counter_secret(config.secret_key),
    )
    dispatcher = Dispatcher(deps)
    deps.dispatch = dispatcher.request
    presence = PresenceKeeper(deps)
    signer = TokenSigner(config.secret_key, config.token_ttl_seconds)
    live = LiveView(deps, bus)
    state = AppState(deps=deps, signer=signer, bus=bus, presence=presence, live=live)
    sweeper = QueueSweeper(deps, dispatcher, bus, config.sweep_seconds, config.timer_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if config.migrate:
            await migrate(engines.write)
        await bus.connect()
        live.start()
        await _accounts(deps, config)
        await sweeper.start()
        await presence.start()
        try:
            yield
        finally:
            await presence.stop()
            await live.stop()
            await sweeper.stop()
            await dispatcher.stop()
            await bus.disconnect()
            if throttle is not None:
                await throttle.close()
            await engines.dispose()

    return build_app(state, config.api, config.allowed_origins, lifespan)


async def _accounts(deps: Deps, config: Config) -> None:
    """The admin from the environment, the demo when asked for, and a word when nobody can sign in."""
    if config.admin_email and config.admin_password:
        await _ensure_admin(deps, config.admin_email, config.admin_password)
    if config.demo and (logins := await seed_demo(deps)):
        print("Demo data seeded. Sign in with:", *logins, sep="\n  ", flush=True)
    if not await staff_exists(deps):
        log.warning(FIRST_ADMIN_HINT)


async def _ensure_admin(deps: Deps, email: str, password: str) -> None:
    """Create the admin from the environment; another process creating it at once is fine."""
    try:
        if await ensure_admin(deps, email, password):
            log.info("created the admin from the environment")
    except (Conflict, IntegrityError):
        log.info("the admin from the environment exists")


def banner(config: Config) -> str:
    """What the start prints about where the API is and how to explore it: only what is true."""
    url = f"http://{config.host}:{config.port}/graphql"
    if config.api.introspection:
        return f"GraphQL API: {url}\nGraphiQL: {url}"
    return (
        f"GraphQL API: {url} (GraphiQL and introspection are off, as in production; "
        "STAMM_INTROSPECTION=1 turns both on for a non-production start, "
        "or send operations from schema.graphql with any GraphQL client)"
    )

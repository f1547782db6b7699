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
from bootstrap.observing import observed_dispatch, observed_publish
from domain.errors import Conflict
from domain.ports import MailTransport, PasswordHasher
from domain.throttling import StoredThrottle
from domain.use_cases import Deps
from domain.use_cases.accounts import ensure_admin, staff_exists
from domain.use_cases.routing import Dispatcher
from graph.app import build_app
from graph.auth import Argon2Hasher, TokenSigner
from graph.context import AppState
from graph.demo import seed_demo
from graph.file_links import FileLinks
from graph.live import LiveView
from graph.metrics import PrometheusObserver, subscription_fields
from graph.presence_keeper import PresenceKeeper
from graph.schema import schema
from graph.web import WEB_DIST
from persistence.blobs import LocalBlobs, RawBlobs, S3Blobs, SealedBlobs
from persistence.crypto import TextCipher
from persistence.database import create_engines
from persistence.event_bus import EventBus
from persistence.mailer import FileTransport, MailSender, SmtpServer, SmtpTransport
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


def data_key(config: Config) -> bytes:
    """The key of request texts and document files; a Config built by hand without a key gets a
    key for this run only."""
    return config.data_key or secrets.token_bytes(32)


def counter_secret(secret_key: str) -> bytes:
    """The key of the attempt counters' hashes: derived from the secret key (which the processes of
    a deployment share), yet not the key that signs tokens."""
    return hmac.new(secret_key.encode(), b"stamm attempt counters", hashlib.sha256).digest()


def file_link_secret(secret_key: str) -> bytes:
    """The key of document download links, derived like counter_secret (never the token key)."""
    return hmac.new(secret_key.encode(), b"stamm document links", hashlib.sha256).digest()


def blob_store(config: Config, key: bytes) -> SealedBlobs:
    """Document files, sealed with the data key: in the S3 bucket when one is set, else in a folder."""
    if config.s3 is not None:
        s3 = config.s3
        raw: RawBlobs = S3Blobs(
            s3.bucket,
            endpoint_url=s3.endpoint_url,
            region=s3.region,
            access_key_id=s3.access_key_id,
            secret_access_key=s3.secret_access_key,
        )
    else:
        raw = LocalBlobs(config.blob_dir)
    return SealedBlobs(raw, key)


def create_app(config: Config, *, hasher: PasswordHasher | None = None) -> Starlette:
    """The app on the database, bus and keys of `config`; they start and stop in its lifespan.

    `hasher` replaces argon2 at its production cost (the e2e tests pass a cheaper argon2).
    """
    engines = create_engines(config.database_url)
    channel = config.event_channel()
    # Each process reports its own figures on /metrics (docs/operations.md).
    observer = PrometheusObserver(subscription_fields(schema))
    bus = EventBus(config.broadcast_url, channel, observer=observer)
    key = data_key(config)
    uow = SqlUnitOfWorkFactory(engines, observed_publish(bus.publish, observer), TextCipher(key))
    blobs = blob_store(config, key)
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
        monitoring_min_cell=config.monitoring_min_cell,
        blobs=blobs,
        max_upload_bytes=config.api.max_upload_bytes,
        public_url=config.public_url,
        deletion_grace_days=config.deletion_grace_days,
    )
    dispatcher = Dispatcher(deps, observed_dispatch(observer))
    deps.dispatch = dispatcher.request
    presence = PresenceKeeper(deps)
    signer = TokenSigner(config.secret_key, config.token_ttl_seconds)
    links = FileLinks(file_link_secret(config.secret_key))
    live = LiveView(deps, bus)
    state = AppState(
        deps=deps, signer=signer, bus=bus, presence=presence, links=links, observer=observer, live=live
    )
    sweeper = QueueSweeper(deps, dispatcher, bus, config.sweep_seconds, config.timer_seconds)
    mailer = MailSender(deps, mail_transport(config), config.mail_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if config.migrate:
            await migrate(engines.write)
        await bus.connect()
        live.start()
        await _accounts(deps, config)
        await sweeper.start()
        await mailer.start()
        await presence.start()
        try:
            yield
        finally:
            await presence.stop()
            await mailer.stop()
            await live.stop()
            await sweeper.stop()
            await dispatcher.stop()
            await bus.disconnect()
            if throttle is not None:
                await throttle.close()
            await blobs.close()
            await engines.dispose()

    return build_app(state, config.api, config.allowed_origins, lifespan, config.metrics_token)


def mail_transport(config: Config) -> MailTransport:
    """SMTP when STAMM_SMTP_URL is set, else .eml files under data/outbox/."""
    if config.smtp_url:
        return SmtpTransport(SmtpServer.from_url(config.smtp_url, config.smtp_starttls), config.mail_from)
    return FileTransport(config.data_dir / "outbox", config.mail_from)


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


def _web_banner(config: Config) -> str:
    """The console and the widget's demo, when the front end is built (`make run` builds it)."""
    if not (WEB_DIST / "app" / "index.html").is_file():
        return ""
    base = f"http://{config.host}:{config.port}"
    return f"\nStaff console: {base}/app/\nChat widget demo: {base}/widget-demo"


def banner(config: Config) -> str:
    """What the start prints about where the API is and how to explore it: only what is true."""
    url = f"http://{config.host}:{config.port}/graphql"
    if config.api.introspection:
        return f"GraphQL API: {url}\nGraphiQL: {url}" + _web_banner(config)
    return (
        f"GraphQL API: {url} (GraphiQL and introspection are off, as in production; "
        "STAMM_INTROSPECTION=1 turns both on for a non-production start, "
        "or send operations from schema.graphql with any GraphQL client)"
    ) + _web_banner(config)

"""The SQL unit of work: one transaction, events published after commit and after the connection is released."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.errors import ServiceUnavailable
from domain.events import Event
from domain.ports import (
    AuditLog,
    ClientRepository,
    CounsellorRepository,
    DocumentRepository,
    EmailAddresses,
    InvitationOutbox,
    InvitationRepository,
    MailOutbox,
    MonitoringRepository,
    NoteRepository,
    PrimaryHistoryRepository,
    RateLimitRepository,
    RequestRepository,
    SettingsRepository,
    TokenRepository,
    UnitOfWork,
)
from persistence.client_repository import SqlClientRepository
from persistence.counsellor_repository import SqlCounsellorRepository
from persistence.crypto import TextCipher
from persistence.database import Engines
from persistence.document_repository import SqlDocumentRepository
from persistence.email_addresses import SqlEmailAddresses
from persistence.folder_repositories import SqlMonitoringRepository, SqlNoteRepository
from persistence.member_repositories import SqlInvitations, SqlMailOutbox
from persistence.request_repository import SqlRequestRepository
from persistence.small_repositories import (
    SqlAuditLog,
    SqlHistoryRepository,
    SqlInvitationOutbox,
    SqlRateLimits,
    SqlSettingsRepository,
    SqlTokenRepository,
)

log = logging.getLogger(__name__)
Publish = Callable[[Event], Awaitable[None]]
# Getting a working connection may take this long; a hung database answers SERVICE_UNAVAILABLE
# within about 5 s (SQLAlchemy adds up to 2 s closing the hung connection).
ACQUIRE_TIMEOUT_S = 2.5
# Waiting for a free pooled connection (a burst of requests) may take this long.
BUSY_TIMEOUT_S = 10.0
_UNREACHABLE = (OSError, sa_exc.OperationalError, sa_exc.InterfaceError, TimeoutError, sa_exc.TimeoutError)


class SqlUnitOfWork:
    counsellors: CounsellorRepository
    clients: ClientRepository
    emails: EmailAddresses
    requests: RequestRepository
    history: PrimaryHistoryRepository
    settings: SettingsRepository
    tokens: TokenRepository
    outbox: InvitationOutbox
    limits: RateLimitRepository
    audit: AuditLog
    notes: NoteRepository
    monitoring: MonitoringRepository
    documents: DocumentRepository
    invitations: InvitationRepository
    mails: MailOutbox

    def __init__(
        self, engine: AsyncEngine, publish: Publish, cipher: TextCipher, slots: asyncio.Semaphore
    ) -> None:
        self._engine = engine
        self._publish = publish
        self._cipher = cipher
        self._slots = slots
        self._events: list[Event] = []
        self._committed: list[Event] = []
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> SqlUnitOfWork:
        try:
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives as the
            # acquire completes, and a cancelled timer then never ends (a shutdown that hangs).
            async with asyncio.timeout(BUSY_TIMEOUT_S):
                await self._slots.acquire()
        except TimeoutError:
            log.warning("every database connection is busy; answering SERVICE_UNAVAILABLE")
            raise ServiceUnavailable("The service is busy; try again shortly.") from None
        try:
            return await self._begin()
        except BaseException:
            self._slots.release()
            raise

    async def _begin(self) -> SqlUnitOfWork:
        try:
            # A database that stops answering without closing connections must not hang a request.
            async with asyncio.timeout(ACQUIRE_TIMEOUT_S):
                self._conn = await self._engine.connect()
            # Outside the timeout: on SQLite, BEGIN IMMEDIATE queues behind other writers
            # (bounded by the busy timeout), which is load, not an unreachable database.
            await self._conn.begin()
        except _UNREACHABLE as exc:
            log.error("database unreachable: %s", type(exc).__name__)
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._conn.invalidate()
                self._conn = None
            raise ServiceUnavailable("The database is not reachable; try again shortly.") from exc
        conn = self._conn
        self.counsellors = SqlCounsellorRepository(conn)
        self.clients = SqlClientRepository(conn)
        self.emails = SqlEmailAddresses(conn)
        self.requests = SqlRequestRepository(conn, self._cipher)
        self.history = SqlHistoryRepository(conn)
        self.settings = SqlSettingsRepository(conn)
        self.tokens = SqlTokenRepository(conn)
        self.outbox = SqlInvitationOutbox(conn)
        self.limits = SqlRateLimits(conn)
        self.audit = SqlAuditLog(conn)
        self.notes = SqlNoteRepository(conn, self._cipher)
        self.monitoring = SqlMonitoringRepository(conn, self._cipher)
        self.documents = SqlDocumentRepository(conn, self._cipher)
        self.invitations = SqlInvitations(conn)
        self.mails = SqlMailOutbox(conn, self._cipher)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            try:
                await self._end(exc_info[1] if len(exc_info) > 1 else None)
            finally:
                self._slots.release()
        finally:
            # Committed facts are published whatever happened since, and only once the connection
            # is back in the pool: publishing never holds a database connection.
            events, self._committed = self._committed, []
            for event in events:
                await self._publish(event)

    async def _end(self, exc: object) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                await conn.rollback()
            await conn.close()
        except (*_UNREACHABLE, sa_exc.DBAPIError):
            await conn.invalidate()
        if _lost_database(exc):
            log.error("database connection lost: %s", type(exc).__name__)
            raise ServiceUnavailable("The database is not reachable; try again shortly.") from exc  # type: ignore[misc]

    async def commit(self) -> None:
        assert self._conn is not None
        await self._conn.commit()
        self._committed += self._events
        self._events = []

    async def rollback(self) -> None:
        assert self._conn is not None
        self._events.clear()
        await self._conn.rollback()

    def record(self, event: Event) -> None:
        self._events.append(event)


def _lost_database(exc: object) -> bool:
    """Whether an error means the database went away (not a constraint or a bug)."""
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError))
    return isinstance(exc, (OSError, TimeoutError, sa_exc.TimeoutError))


class SqlUnitOfWorkFactory:
    """Opens write transactions on the writer and read-only ones on the reader."""

    def __init__(self, engines: Engines, publish: Publish, cipher: TextCipher) -> None:
        self._engines = engines
        self._publish = publish
        self._cipher = cipher
        self._slots: dict[int, asyncio.Semaphore] = {}

    def __call__(self, *, write: bool = True) -> UnitOfWork:
        engine = self._engines.write if write else self._engines.read
        return SqlUnitOfWork(engine, self._publish, self._cipher, self._slots_of(engine))

    def _slots_of(self, engine: AsyncEngine) -> asyncio.Semaphore:
        """One slot per pooled connection: waiting for a free one is queueing, not an outage."""
        if id(engine) not in self._slots:
            pool = engine.sync_engine.pool
            size = getattr(pool, "size", lambda: 5)() + max(getattr(pool, "_max_overflow", 0), 0)
            self._slots[id(engine)] = asyncio.Semaphore(size)
        return self._slots[id(engine)]

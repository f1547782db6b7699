"""Helpers for integration tests: a small world of staff, clients and requests on the real database.

Everything goes through the use cases, the way a resolver calls them; reads of the stored state go
through a fresh unit of work, so they show what was committed.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select, update

from domain.model import (
    AssignmentSource,
    Channel,
    Client,
    Counsellor,
    MailAvailability,
    OnlineStatus,
    PrimaryCounsellorChange,
    Request,
    RequestStatus,
    Role,
    StaffRole,
    Viewer,
)
from domain.use_cases import Deps
from domain.use_cases.accounts import register_client
from domain.use_cases.counsellors import (
    CounsellorUpdate,
    NewCounsellor,
    add_counsellor,
    set_absence,
    set_chat_capacity,
    set_mail_availability,
    set_online_status,
    update_counsellor,
)
from domain.use_cases.requests import submit_request
from domain.use_cases.routing import Dispatcher
from persistence.database import Engines, create_engines
from persistence.tables import counsellors as counsellors_table
from persistence.tables import request_handlers
from persistence.tables import requests as requests_table
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.fakes import FixedClock, settling

CHAT, MAIL = Channel.CHAT, Channel.MAIL
PASSWORD = "password-123"


def staff(counsellor: Counsellor) -> Viewer:
    """The viewer of a counsellor (admins included, by their role)."""
    role = Role.ADMIN if counsellor.role is StaffRole.ADMIN else Role.COUNSELLOR
    return Viewer(role=role, counsellor_id=counsellor.id)


def client_id(viewer: Viewer) -> int:
    assert viewer.client_id is not None
    return viewer.client_id


@dataclass
class World:
    """Builds and inspects a scenario through the use cases of one `Deps`."""

    deps: Deps
    clock: FixedClock
    engines: Engines
    admin_account: Counsellor | None = None
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def tick(self, seconds: float = 1) -> None:
        """Move the clock on, so creation and assignment times differ."""
        self.clock.advance(seconds)

    @property
    def admin(self) -> Viewer:
        assert self.admin_account is not None, "call World.setup_admin() first"
        return staff(self.admin_account)

    async def setup_admin(self) -> Counsellor:
        self.admin_account = await add_counsellor(
            self.deps, NewCounsellor("admin@example.org", PASSWORD, "Admin", role=StaffRole.ADMIN)
        )
        return self.admin_account

    async def counsellor(
        self,
        name: str,
        *,
        online: bool = True,
        chat: int = 1,
        mail: MailAvailability = MailAvailability.NONE,
        resources: int | None = None,
        only_own: bool = False,
        absent: bool = False,
        active: bool = True,
    ) -> Counsellor:
        """A counsellor with the given settings, each set through its use case."""
        self.tick()
        n = next(self._numbers)
        created = await add_counsellor(self.deps, NewCounsellor(f"c{n}@example.org", PASSWORD, name))
        admin = self.admin
        if chat != 1:
            await set_chat_capacity(self.deps, admin, chat, created.id)
        if mail is not MailAvailability.NONE or resources is not None:
            await set_mail_availability(self.deps, admin, mail, resources, created.id)
        if only_own or not active:
            await update_counsellor(
                self.deps, admin, CounsellorUpdate(created.id, active=active, only_own_clients=only_own)
            )
        if absent:
            await set_absence(self.deps, admin, True, "Im Urlaub", created.id)
        if online:
            await set_online_status(self.deps, admin, OnlineStatus.ONLINE, created.id)
        return await self.state(created.id)

    async def client(self, name: str = "Kim") -> Viewer:
        """A self-registered client without a primary counsellor."""
        self.tick()
        n = next(self._numbers)
        return await register_client(self.deps, name, f"k{n}@example.org", PASSWORD, None)

    async def submit(
        self,
        client: Viewer,
        channel: Channel = CHAT,
        message: str = "Hallo",
        key: str | None = None,
        subject: str | None = None,
    ) -> Request:
        self.tick()
        return await submit_request(self.deps, client, channel, message, subject, key)

    async def request(self, request_id: int) -> Request:
        async with self.deps.uow(write=False) as uow:
            found = await uow.requests.get(request_id)
        assert found is not None
        return found

    async def state(self, counsellor_id: int) -> Counsellor:
        async with self.deps.uow(write=False) as uow:
            found = await uow.counsellors.get(counsellor_id)
        assert found is not None
        return found

    async def stored_client(self, client: Viewer | int) -> Client:
        cid = client if isinstance(client, int) else client_id(client)
        async with self.deps.uow(write=False) as uow:
            found = await uow.clients.get(cid)
        assert found is not None
        return found

    async def primary_of(self, client: Viewer | int) -> int | None:
        return (await self.stored_client(client)).primary_counsellor_id

    async def history(self, client: Viewer | int) -> list[PrimaryCounsellorChange]:
        cid = client if isinstance(client, int) else client_id(client)
        async with self.deps.uow(write=False) as uow:
            return (await uow.history.for_clients([cid]))[cid]

    async def automatic_entries(self, client: Viewer | int) -> list[PrimaryCounsellorChange]:
        return [h for h in await self.history(client) if h.source is AssignmentSource.AUTOMATIC]

    async def set_wait(self, seconds: int) -> None:
        async with self.deps.uow() as uow:
            settings = await uow.settings.lock()
            settings.primary_chat_wait_seconds = seconds
            await uow.settings.save(settings)
            await uow.commit()

    async def all_requests(self) -> list[Request]:
        async with self.deps.uow(write=False) as uow:
            found = [await uow.requests.get(i) for i in await request_ids(self.engines)]
            return [r for r in found if r is not None]


async def request_ids(engines: Engines) -> list[int]:
    async with engines.read.connect() as conn:
        return [r[0] for r in await conn.execute(select(requests_table.c.id).order_by(requests_table.c.id))]


async def load_check(engines: Engines) -> dict[int, tuple[int, int, int, int, int, int]]:
    """Per counsellor: (stored chat count, ASSIGNED chats, chat capacity, stored mail count, ASSIGNED mails, mail resources)."""
    t, r = counsellors_table, requests_table
    async with engines.read.connect() as conn:
        held = {
            (row.counsellor_id, row.channel): row.n
            for row in await conn.execute(
                select(r.c.counsellor_id, r.c.channel, func.count().label("n"))
                .where(r.c.status == RequestStatus.ASSIGNED.value)
                .group_by(r.c.counsellor_id, r.c.channel)
            )
        }
        found = {}
        for row in await conn.execute(select(t)):
            found[row.id] = (
                row.active_chat_count,
                held.get((row.id, CHAT.value), 0),
                row.chat_capacity,
                row.open_mail_count,
                held.get((row.id, MAIL.value), 0),
                row.mail_resources,
            )
    return found


async def handler_counts(engines: Engines) -> dict[int, int]:
    """How many counsellors each request was ever assigned to."""
    h = request_handlers
    async with engines.read.connect() as conn:
        query = select(h.c.request_id, func.count()).group_by(h.c.request_id)
        return {row[0]: row[1] for row in await conn.execute(query)}


async def set_loads(
    engines: Engines, counsellor_id: int, *, chat: int | None = None, mail: int | None = None
) -> None:
    """Write a counsellor's stored loads directly (a scenario set-up, no requests behind them)."""
    values: dict[str, int] = {}
    if chat is not None:
        values["active_chat_count"] = chat
    if mail is not None:
        values["open_mail_count"] = mail
    async with engines.write.begin() as conn:
        await conn.execute(
            update(counsellors_table).where(counsellors_table.c.id == counsellor_id).values(values)
        )


def statuses(requests: Sequence[Request]) -> list[RequestStatus]:
    return [r.status for r in requests]


@pytest.fixture
async def world(deps: Deps, clock: FixedClock, engines: Engines) -> World:
    found = World(deps, clock, engines)
    await found.setup_admin()
    return found


@dataclass
class Process:
    """Another 'process' on the same database: its own engines, unit-of-work factory and dispatcher."""

    engines: Engines
    deps: Deps


def on_engines(deps: Deps, engines: Engines) -> Deps:
    """The same use-case dependencies (clock, hasher, limits, cipher, bus) over other engines, own dispatcher."""
    factory = copy.copy(deps.uow)
    assert isinstance(factory, SqlUnitOfWorkFactory) and hasattr(factory, "_engines")
    factory._engines = engines
    found = dataclasses.replace(deps, uow=factory)
    found.dispatch = settling(Dispatcher(found))
    return found


@pytest.fixture
async def processes(database_url: str, deps: Deps) -> AsyncIterator[list[Process]]:
    """Two more processes next to `deps`, each with its own connection pools (the schema is migrated)."""
    found: list[Process] = []
    for _ in range(2):
        own = create_engines(database_url)
        found.append(Process(own, on_engines(deps, own)))
    try:
        yield found
    finally:
        for process in found:
            await process.engines.dispose()

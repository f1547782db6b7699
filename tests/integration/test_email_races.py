"""One account per e-mail address (issue 8), also when every way of taking an address races for it.

Each round runs at once: two self-registrations, staff adding a counsellor, staff creating a
client, and a client's profile changed to the address. Exactly one of them gets it; every other
answers CONFLICT on its own e-mail field, and nothing else is stored. The database's unique index
is only the backstop: its violation is CONFLICT too, never an internal error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest
from sqlalchemy import func, select

from domain.errors import Conflict, EmailTaken
from domain.model import Client
from domain.use_cases.accounts import register_client
from domain.use_cases.clients import ClientProfile, create_client, update_client_profile
from domain.use_cases.counsellors import NewCounsellor, add_counsellor
from persistence.tables import clients, counsellors
from tests.fakes import START
from tests.integration.conftest import PASSWORD, World

ROUNDS = 15


async def accounts(world: World, email: str | None = None) -> int:
    """Clients plus counsellors: all, or those holding `email`."""
    total = 0
    async with world.engines.read.connect() as conn:
        for table in (clients, counsellors):
            query = select(func.count()).select_from(table)
            if email is not None:
                query = query.where(table.c.email == email)
            total += int((await conn.execute(query)).scalar_one())
    return total


async def test_parallel_writes_of_one_address_leave_it_with_one_account(world: World) -> None:
    admin = world.admin
    for n in range(ROUNDS):
        email = f"race{n}@example.org"
        changing = await create_client(world.deps, admin, ClientProfile(display_name=f"Changer {n}"), None)
        before = await accounts(world)
        attempts: list[tuple[str, Awaitable[object]]] = [
            ("input.email", register_client(world.deps, "First", email, PASSWORD, None)),
            ("input.email", register_client(world.deps, "Second", email.upper(), PASSWORD, None)),
            ("email", add_counsellor(world.deps, NewCounsellor(email, PASSWORD, "Staff"))),
            ("input.email", create_client(world.deps, admin, ClientProfile("Created", email=email), None)),
            (
                "input.email",
                update_client_profile(world.deps, admin, changing.id, ClientProfile(email=email)),
            ),
        ]
        outcomes = await asyncio.gather(*(call for _, call in attempts), return_exceptions=True)
        unexpected = [o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, Conflict)]
        assert not unexpected, unexpected
        winners = [i for i, o in enumerate(outcomes) if not isinstance(o, BaseException)]
        assert len(winners) == 1, outcomes
        for (field, _), outcome in zip(attempts, outcomes, strict=True):
            if isinstance(outcome, Conflict):
                assert (outcome.code, outcome.field) == ("CONFLICT", field)
        assert await accounts(world, email) == 1
        # The profile change takes an existing account; every other winner adds one, the losers none.
        assert await accounts(world) == before + (0 if winners == [4] else 1)


async def test_a_duplicate_the_index_catches_is_an_email_conflict(world: World) -> None:
    taken = await create_client(
        world.deps, world.admin, ClientProfile("Owner", email="owner@example.org"), None
    )
    other = await create_client(world.deps, world.admin, ClientProfile("Other"), None)
    copy = Client(
        id=0, client_code="DUP001", display_name="Copy", email="owner@example.org", created_at=START
    )
    async with world.deps.uow() as uow:
        with pytest.raises(EmailTaken):
            await uow.clients.add(copy)
    async with world.deps.uow() as uow:
        changed = await uow.clients.lock(other.id)
        assert changed is not None
        changed.email = taken.email
        with pytest.raises(EmailTaken):
            await uow.clients.save_profile(changed)
    async with world.deps.uow() as uow:
        staff = await uow.counsellors.get(world.admin_account.id if world.admin_account else 0)
        assert staff is not None
        staff.id, staff.email = 0, "admin@example.org"
        with pytest.raises(EmailTaken):
            await uow.counsellors.add(staff)
    assert await accounts(world, "owner@example.org") == 1

"""client_totals (migration 0010): the triggers keep the per-slot counts equal to count(*) of the
clients while two sessions insert, delete and change clients at once, and the admin's unfiltered
overview reads its total from there (filtered lists and counsellors still count)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import AccountStatus, Viewer
from domain.ports import ClientQuery
from persistence.database import Engines
from persistence.tables import client_totals
from persistence.tables import clients as t
from tests.integration.conftest import World, client_id, staff

ROUNDS = 24
SLOTS = 16
_numbers = itertools.count(1)


async def _insert(conn: AsyncConnection) -> int:
    n = next(_numbers)
    values = {
        "client_code": f"T{n:05}",
        "display_name": f"Client {n}",
        "sort_name": f"client {n}",
        "invitation_status": "NO_ACCESS",
        "account_status": AccountStatus.ACTIVE.value,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return (await conn.execute(insert(t).values(values).returning(t.c.id))).scalar_one()


async def _slots(engines: Engines) -> tuple[dict[int, int], dict[int, int]]:
    """(the counter per slot, count(*) of the clients per slot)."""
    async with engines.read.connect() as conn:
        kept = dict((await conn.execute(select(client_totals.c.slot, client_totals.c.n))).all())
        slot = t.c.id % SLOTS
        counted = dict((await conn.execute(select(slot, func.count()).group_by(slot))).all())
    return kept, {s: counted.get(s, 0) for s in range(SLOTS)}


async def test_two_sessions_inserting_deleting_and_changing_status_at_once_keep_the_count(
    engines: Engines,
) -> None:
    async with engines.write.begin() as conn:
        shared = [await _insert(conn) for _ in range(ROUNDS)]  # both sessions try to delete these

    async def session(me: int) -> None:
        for i in range(ROUNDS):
            # One counted change per transaction, as in the use cases; the other session's
            # transaction is open meanwhile (on SQLite it waits for BEGIN IMMEDIATE instead).
            async with engines.write.begin() as conn:
                if i % 3 == 0:
                    await _insert(conn)
                elif i % 3 == 1:
                    await conn.execute(delete(t).where(t.c.id == shared[i]))
                else:
                    status = AccountStatus.BLOCKED if me else AccountStatus.DELETED
                    await conn.execute(
                        update(t).where(t.c.id == shared[i]).values(account_status=status.value)
                    )
                    if me:
                        await _insert(conn)
                await asyncio.sleep(0)

    await asyncio.gather(session(0), session(1))
    kept, counted = await _slots(engines)
    assert kept == counted
    third = ROUNDS // 3  # rounds of each kind per session
    assert sum(kept.values()) == ROUNDS + 2 * third - third + third


async def test_the_admins_unfiltered_total_is_the_counter_and_filtered_totals_count(world: World) -> None:
    """White box: a counter put off by 1,000 shows in the admin's unfiltered total only."""
    anna = await world.counsellor("Anna")
    kims = [client_id(await world.client()) for _ in range(4)]
    async with world.engines.write.begin() as conn:
        await conn.execute(update(t).where(t.c.id.in_(kims[:3])).values(primary_counsellor_id=anna.id))
        await conn.execute(
            update(client_totals).where(client_totals.c.slot == 0).values(n=client_totals.c.n + 1000)
        )

    async def total(viewer: Viewer, query: ClientQuery) -> int:
        async with world.deps.uow(write=False) as uow:
            return (await uow.clients.visible_page(viewer, query, 2, None)).total

    assert await total(world.admin, ClientQuery()) == 1004
    assert await total(world.admin, ClientQuery(account_status=AccountStatus.ACTIVE)) == 4
    assert await total(world.admin, ClientQuery(primary_counsellor_id=anna.id)) == 3
    assert await total(staff(anna), ClientQuery()) == 3

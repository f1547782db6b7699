"""A pooled PostgreSQL connection that the server ended is replaced before a unit of work uses it
(persistence.database's checkout ping), so a restarted or restarting database loses no request
that arrives after it answers again."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from domain.use_cases import Deps
from domain.use_cases.reads import counsellors_by_id
from persistence.database import Engines
from tests.integration.conftest import Process, World
from tests.services import Backend

BACKEND_PID = text("SELECT pg_backend_pid()")


async def _pooled_backend(engines: Engines) -> int:
    async with engines.read.connect() as conn:
        return int((await conn.execute(BACKEND_PID)).scalar_one())


async def _end_backend(other: Process, pid: int) -> None:
    """Ends the backend from another pool and returns once PostgreSQL no longer lists it."""
    async with other.engines.write.connect() as conn:
        assert (await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar_one()
        # pg_terminate_backend signals; the backend leaves pg_stat_activity when it has exited.
        await conn.execute(
            text(
                "DO $$ BEGIN WHILE EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = "
                f"{int(pid)}) LOOP PERFORM pg_sleep(0.01); PERFORM pg_stat_clear_snapshot(); END LOOP; END $$"
            )
        )


async def test_a_pooled_connection_the_server_ended_is_replaced_before_use(
    backend: Backend, world: World, deps: Deps, engines: Engines, processes: list[Process]
) -> None:
    if backend.name != "postgres":
        pytest.skip("SQLite has no server that could end a pooled connection")
    anna = await world.counsellor("Anna")
    ended = await _pooled_backend(engines)
    await _end_backend(processes[0], ended)

    found = await counsellors_by_id(deps, [anna.id])

    assert list(found) == [anna.id]
    assert await _pooled_backend(engines) != ended

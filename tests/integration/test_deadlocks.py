"""A transaction PostgreSQL rolls back to break a deadlock is reported as a retryable CONFLICT
(docs/decisions.md), never as SERVICE_UNAVAILABLE or an internal error; the other one commits.

SQLite runs one writer at a time (BEGIN IMMEDIATE), so two writers there never deadlock."""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import DomainError, TransactionAborted
from domain.use_cases import Deps
from tests.integration.conftest import Process, World
from tests.services import Backend


async def test_the_loser_of_a_deadlock_gets_a_retryable_conflict_and_the_winner_commits(
    backend: Backend, world: World, processes: list[Process]
) -> None:
    if backend.name != "postgres":
        pytest.skip("SQLite serialises writers: no deadlock is possible")
    anna = await world.counsellor("Anna", chat=5)
    bert = await world.counsellor("Bert", chat=5)
    locked = [asyncio.Event(), asyncio.Event()]

    async def lock_both(deps: Deps, mine: int, first: int, second: int) -> None:
        async with deps.uow() as uow:
            await uow.counsellors.lock(first)
            locked[mine].set()
            await locked[1 - mine].wait()  # each holds one row and asks for the other's
            await uow.counsellors.lock(second)
            await uow.commit()

    results = await asyncio.gather(
        lock_both(processes[0].deps, 0, anna.id, bert.id),
        lock_both(processes[1].deps, 1, bert.id, anna.id),
        return_exceptions=True,
    )

    failures = [r for r in results if r is not None]
    assert len(failures) == 1, results
    (lost,) = failures
    assert isinstance(lost, TransactionAborted)
    assert isinstance(lost, DomainError) and lost.code == "CONFLICT"
    assert lost.extensions == {"retryable": True}
    assert "send the request again" in lost.message

"""What happens after a commit cannot undo it: a failing dispatch run leaves the mutation answered,
and events are published only once the connection is back in the pool."""

from __future__ import annotations

import dataclasses
import logging
import secrets

import pytest
from sqlalchemy import exc as sa_exc

from domain.events import Event
from domain.model import RequestStatus
from domain.use_cases import Deps
from domain.use_cases.requests import close_request
from domain.use_cases.routing import Dispatcher
from persistence.crypto import TextCipher
from persistence.database import Engines
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.integration.conftest import World, staff


async def _pool_timeout(_: Deps) -> int:
    raise sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached")


async def test_a_committed_close_answers_success_when_the_dispatch_run_fails(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    anna = await world.counsellor("Anna")
    held = await world.submit(await world.client("Kim"))
    queued = await world.submit(await world.client("Lou"))
    assert (held.status, queued.status) == (RequestStatus.ASSIGNED, RequestStatus.QUEUED)
    failing = Dispatcher(world.deps, dispatch=_pool_timeout)
    deps = dataclasses.replace(world.deps, dispatch=failing.request)

    closed = await close_request(deps, staff(anna), held.id)
    await failing.settled()

    assert closed.status is RequestStatus.CLOSED
    assert (await world.request(held.id)).status is RequestStatus.CLOSED
    assert "dispatch run failed; the sweep retries" in caplog.text
    # The queued chat waits for the sweep's run, which gives it Anna's freed slot.
    assert (await world.request(queued.id)).status is RequestStatus.QUEUED
    await Dispatcher(world.deps).run()
    assert (await world.request(queued.id)).counsellor_id == anna.id


async def test_requesting_a_dispatch_returns_before_the_run_and_a_run_failing_raises_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[str] = []

    async def run_then_fail(_: Deps) -> int:
        runs.append("run")
        raise RuntimeError("deadlock detected")

    dispatcher = Dispatcher(world.deps, dispatch=run_then_fail)
    with caplog.at_level(logging.WARNING):
        await dispatcher.request()
        assert runs == []  # requested, not run: the caller answers first
        await dispatcher.request()  # coalesces with the first
        await dispatcher.settled()
    assert runs == ["run"]
    assert caplog.text.count("dispatch run failed") == 1


async def test_events_are_published_after_the_connection_is_back_in_the_pool(
    world: World, engines: Engines
) -> None:
    """Publishing may wait (a slow bus): it must not keep a pooled connection meanwhile."""
    checked_out: list[int] = []

    async def publish(_: Event) -> None:
        checked_out.append(engines.write.sync_engine.pool.checkedout())  # type: ignore[attr-defined]

    recording = dataclasses.replace(
        world.deps, uow=SqlUnitOfWorkFactory(engines, publish, TextCipher(secrets.token_bytes(32)))
    )
    local = World(recording, world.clock, engines, world.admin_account)

    await local.counsellor("Bert")  # created, then set ONLINE: each commit publishes
    await local.submit(await local.client("Kim"))  # assigned to Bert: several events at once

    assert len(checked_out) >= 3
    assert set(checked_out) == {0}, checked_out

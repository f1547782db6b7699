"""Idle subscribers cost no database work: the statements run while subscribers receive the same
events do not grow with the number of subscribers (sessions are pushed, availability is computed
once per change for the whole process)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Any

from strawberry.types import ExecutionResult

from domain.events import CounsellorStateChanged
from domain.model import Counsellor, OnlineStatus, Role, Viewer
from domain.use_cases import Deps
from domain.use_cases.accounts import register_client
from domain.use_cases.clients import ClientProfile, create_client
from domain.use_cases.counsellors import NewCounsellor, add_counsellor
from graph import ids
from graph.auth import TokenSigner
from graph.context import AppState, Context
from graph.schema import schema
from persistence.database import Engines
from persistence.event_bus import EventBus
from tests.api.conftest import http_request
from tests.api.test_statement_count import counted
from tests.security.scene import WatchedBus

EVENTS = 20
WIDGET = (
    "subscription { availabilityChanged { chatAvailable mailAvailable primaryCounsellor { onlineStatus } } }"
)
COLLEAGUE = "subscription ($id: ID) { counsellorAvailabilityChanged(counsellorId: $id) { id onlineStatus } }"
SIGNER = TokenSigner("statements-secret-key-of-enough-length!", 3600)


class Subscriber:
    """One in-process subscription, its results collected as they come."""

    def __init__(self, stream: AsyncGenerator[ExecutionResult, None]) -> None:
        self.stream = stream
        self.results: list[dict[str, Any]] = []
        self.arrived = asyncio.Condition()
        self.task = asyncio.ensure_future(self._collect())

    async def _collect(self) -> None:
        async for result in self.stream:
            assert not result.errors, [e.formatted for e in result.errors]
            assert result.data is not None
            async with self.arrived:
                self.results.append(result.data)
                self.arrived.notify_all()

    async def received(self, count: int) -> None:
        async with asyncio.timeout(30), self.arrived:
            await self.arrived.wait_for(lambda: len(self.results) >= count)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.stream.aclose()


@contextlib.asynccontextmanager
async def subscribers(
    state: AppState, count: int, primary: Counsellor, client_tokens: list[str], staff_token: str
) -> AsyncIterator[list[Subscriber]]:
    """`count` subscribers: half anonymous widgets, a quarter clients of `primary`, a quarter staff
    watching `primary`; each listening and past its session check."""
    bus = state.bus
    assert isinstance(bus, WatchedBus)
    found: list[Subscriber] = []
    try:
        for i in range(count):
            token: str | None = None
            document, variables = WIDGET, {}
            if i % 4 == 1:
                token = client_tokens[i // 4]
            elif i % 4 == 3:
                token, document = staff_token, COLLEAGUE
                variables = {"id": ids.encode("Counsellor", primary.id)}
            stream = await schema.subscribe(
                document, variables, context_value=Context(state, http_request(token))
            )
            assert not isinstance(stream, ExecutionResult), stream.errors
            found.append(Subscriber(stream))
            await found[-1].received(1)  # its current state: it listens
        first = bus.started - count + 1
        for number in range(first, first + count):
            await bus.dealt_with_everything(number)  # past the session check made once at the start
        yield found
    finally:
        for subscriber in found:
            await subscriber.close()


async def _delivered(bus: EventBus) -> None:
    """Until the bus has delivered everything published so far: with Redis an event of the set-up
    (a new counsellor's state) can arrive after the subscriptions opened, which would take it as
    a change. Events reach the process in the order they were published."""
    async with bus.subscribe(WatchedBus.MARK_TOPICS) as events:
        await bus.publish(WatchedBus.MARK)
        async with asyncio.timeout(30):
            async for event in events:
                if event == WatchedBus.MARK:
                    return


async def _statements_for(
    deps: Deps, engines: Engines, bus: EventBus, count: int
) -> tuple[list[str], list[list[dict[str, Any]]]]:
    """The statements run while `count` subscribers receive the same 20 changes of one counsellor."""
    state = AppState(deps=deps, signer=SIGNER, bus=WatchedBus(bus))
    primary = await add_counsellor(deps, NewCounsellor(f"p{count}@api.test", "password-123", "Primary"))
    staff_token, _ = SIGNER.issue(Viewer(role=Role.COUNSELLOR, counsellor_id=primary.id))
    admin = Viewer(role=Role.ADMIN, counsellor_id=primary.id)
    client_tokens = []
    for i in range(count // 4 + 1):
        client = await create_client(deps, admin, ClientProfile(display_name=f"Client {i}"), primary.id)
        client_tokens.append(SIGNER.issue(Viewer(role=Role.CLIENT, client_id=client.id))[0])
    await _delivered(bus)
    async with subscribers(state, count, primary, client_tokens, staff_token) as found:
        with counted(engines) as statements:
            for n in range(EVENTS):
                status = OnlineStatus.ONLINE if n % 2 == 0 else OnlineStatus.OFFLINE
                await bus.publish(CounsellorStateChanged(replace(primary, online_status=status)))
                # Each change reaches everyone before the next (a subscriber that falls behind
                # would get only a counsellor's latest state, by design).
                for subscriber in found:
                    await subscriber.received(2 + n)
        return statements, [s.results for s in found]


async def test_statements_do_not_grow_with_subscribers(deps: Deps, engines: Engines, bus: EventBus) -> None:
    # A registered client exists too: availability of clients without a primary is asked for.
    await register_client(deps, "Someone", "someone@api.test", "password-123", None)
    few, few_results = await _statements_for(deps, engines, bus, 10)
    many, many_results = await _statements_for(deps, engines, bus, 200)

    assert len(many) == len(few), (few, many)
    assert len(few) == 0, few  # every answer came from the process's view, every session from events
    # And everyone received every change: online and offline by turns, for widgets and staff alike.
    for results in (few_results, many_results):
        widget = [r["availabilityChanged"]["chatAvailable"] for r in results[0]]
        assert widget == [False] + [n % 2 == 0 for n in range(EVENTS)]
        client = [r["availabilityChanged"]["primaryCounsellor"]["onlineStatus"] for r in results[1]]
        assert client == ["OFFLINE"] + ["ONLINE" if n % 2 == 0 else "OFFLINE" for n in range(EVENTS)]
        staff = [r["counsellorAvailabilityChanged"]["onlineStatus"] for r in results[3]]
        assert staff == client

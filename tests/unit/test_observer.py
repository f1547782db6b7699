"""What the event bus and the wrappers of the composition root report to the observer port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from bootstrap.observing import observed_dispatch, observed_publish
from domain.events import Event, SessionsEnded, StateMayBeStale
from domain.use_cases import Deps
from graph.metrics import OTHER, PrometheusObserver, bounded
from persistence.event_bus import EventBus
from tests.support.waiting import eventually


@dataclass
class Recorder:
    """An observer that keeps what it was told."""

    received: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    deliveries: list[float] = field(default_factory=list)
    published: list[Event] = field(default_factory=list)
    runs: list[tuple[int, bool]] = field(default_factory=list)

    def event_received(self, kind: str) -> None:
        self.received.append(kind)

    def event_lost(self, kind: str) -> None:
        self.lost.append(kind)

    def bus_gap(self, cause: str) -> None:
        self.gaps.append(cause)

    def delivered(self, seconds: float) -> None:
        self.deliveries.append(seconds)

    def event_published(self, event: Event) -> None:
        self.published.append(event)

    def dispatch_run(self, moved: int, seconds: float, failed: bool) -> None:
        assert seconds >= 0
        self.runs.append((moved, failed))


@pytest.fixture
async def observed_bus() -> AsyncIterator[tuple[EventBus, Recorder]]:
    recorder = Recorder()
    bus = EventBus("memory://", "stamm.observer-test", queue_limit=2, observer=recorder)
    await bus.connect()
    try:
        yield bus, recorder
    finally:
        await bus.disconnect()


async def test_the_bus_reports_received_events_and_each_subscribers_delivery(
    observed_bus: tuple[EventBus, Recorder],
) -> None:
    bus, recorder = observed_bus
    async with bus.subscribe() as events:
        await bus.publish(SessionsEnded(counsellor_id=7))
        assert await anext(events) == SessionsEnded(counsellor_id=7)
        assert recorder.deliveries == []  # the subscriber is still handling it
        await bus.publish(SessionsEnded(client_id=8))
        assert await anext(events) == SessionsEnded(client_id=8)
    assert recorder.received == ["SessionsEnded", "SessionsEnded"]
    assert len(recorder.deliveries) == 1
    assert recorder.gaps == []


async def test_an_overflowing_subscriber_is_a_gap(observed_bus: tuple[EventBus, Recorder]) -> None:
    bus, recorder = observed_bus
    async with bus.subscribe() as events:
        for number in range(4):  # the queue holds 2
            await bus.publish(SessionsEnded(counsellor_id=number))

        async def all_arrived() -> bool:
            return len(recorder.received) == 4

        await eventually(all_arrived, "four events received")
        assert isinstance(await anext(events), StateMayBeStale)
    assert recorder.gaps == ["overflow"]


async def test_publishing_is_reported_before_the_event_leaves() -> None:
    recorder, sent = Recorder(), []

    async def publish(event: Event) -> None:
        assert recorder.published == [event]
        sent.append(event)

    await observed_publish(publish, recorder)(SessionsEnded(counsellor_id=1))
    assert sent == [SessionsEnded(counsellor_id=1)]


async def test_dispatch_runs_are_reported_with_what_they_moved(deps: Deps) -> None:
    recorder = Recorder()

    async def moves_three(_: Deps) -> int:
        return 3

    async def fails(_: Deps) -> int:
        raise RuntimeError("pool timeout")

    async def cancelled(_: Deps) -> int:
        raise asyncio.CancelledError

    assert await observed_dispatch(recorder, moves_three)(deps) == 3
    with pytest.raises(RuntimeError):
        await observed_dispatch(recorder, fails)(deps)
    with pytest.raises(asyncio.CancelledError):
        await observed_dispatch(recorder, cancelled)(deps)
    assert recorder.runs == [(3, False), (0, True)]  # a cancelled run (shutdown) is no run


def test_a_label_only_takes_a_known_value() -> None:
    observer = PrometheusObserver(["availabilityChanged"])
    observer.event_received("Alice Example <alice@example.org>")
    observer.subscription_opened("someClientChosenName")
    text = observer.exposition().decode()
    assert "alice" not in text and "someClientChosenName" not in text
    assert 'stamm_events_received_total{kind="other"} 1.0' in text
    assert 'stamm_subscriptions_open{field="other"} 1.0' in text
    assert bounded("CHAT", ("CHAT", "MAIL")) == "CHAT" and bounded("x", ()) == OTHER

"""The observer port: what the running service reports about itself (counts, gauges, durations).

The composition root wires a Prometheus implementation (graph/metrics.py); everything else,
tests and fakes included, gets `NullObserver`, which does nothing. Arguments are the domain's
own bounded words (event kinds, channels, routing reasons, field names of the schema), never
an id, a name, an e-mail or a text: whatever an observer turns into labels stays free of
personal data by construction.
"""

from __future__ import annotations

from typing import Protocol

from domain.events import Event


class BusObserver(Protocol):
    """What the event bus of one process reports."""

    def event_received(self, kind: str) -> None:
        """An event of this kind (the event class's name) arrived from the bus."""

    def event_lost(self, kind: str) -> None:
        """An event was dropped before it left this process (outbox full, bus unreachable)."""

    def bus_gap(self, cause: str) -> None:
        """Local subscribers may have missed events: `reconnect` (the bus reconnected) or
        `overflow` (one subscriber's queue was full)."""

    def delivered(self, seconds: float) -> None:
        """One local subscriber finished with an event this long after it arrived (fan-out)."""


class Observer(BusObserver, Protocol):
    """Everything one process reports."""

    def event_published(self, event: Event) -> None:
        """A committed change's event was handed to the bus."""

    def dispatch_run(self, moved: int, seconds: float, failed: bool) -> None:
        """A dispatch run offered the queue: how many requests it moved, how long it took."""


class NullObserver:
    """Reports nothing (tests, fakes, tools)."""

    def event_received(self, kind: str) -> None:
        pass

    def event_lost(self, kind: str) -> None:
        pass

    def bus_gap(self, cause: str) -> None:
        pass

    def delivered(self, seconds: float) -> None:
        pass

    def event_published(self, event: Event) -> None:
        pass

    def dispatch_run(self, moved: int, seconds: float, failed: bool) -> None:
        pass


NULL_OBSERVER = NullObserver()

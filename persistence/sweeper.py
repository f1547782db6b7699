"""Keeps the queue moving without relying on events: wait expiries, periodic sweeps, remote changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from domain.events import CounsellorStateChanged, PrimaryCounsellorChanged, RequestChanged, StateMayBeStale
from domain.model import RequestStatus
from domain.use_cases import Deps
from domain.use_cases.routing import Dispatcher
from persistence.event_bus import EventBus

log = logging.getLogger(__name__)


class QueueSweeper:
    """Runs the dispatcher when a wait ends, every `period` seconds, and on changes from other processes."""

    def __init__(self, deps: Deps, dispatcher: Dispatcher, bus: EventBus, period: float) -> None:
        self._deps = deps
        self._dispatcher = dispatcher
        self._bus = bus
        self._period = period
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._timer()), asyncio.create_task(self._listen())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sleep_seconds(self) -> float:
        now = self._deps.clock.now()
        async with self._deps.uow(write=False) as uow:
            wait_end = await uow.requests.next_wait_end(now)
        if wait_end is None:
            return self._period
        return min(self._period, max((wait_end - now).total_seconds(), 0.0) + 0.01)

    async def _timer(self) -> None:
        while True:
            try:
                await asyncio.sleep(await self._sleep_seconds())
                await self._dispatcher.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("queue sweep failed; trying again")
                await asyncio.sleep(self._period)

    async def _listen(self) -> None:
        """A change committed anywhere that could free capacity wakes this process's dispatcher."""
        while True:
            try:
                async with self._bus.subscribe() as events:
                    async for event in events:
                        if _may_free_capacity(event):
                            await self._dispatcher.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event listener failed; resubscribing")
                await asyncio.sleep(1)


def _may_free_capacity(event: object) -> bool:
    if isinstance(event, RequestChanged):
        return event.request.status in (RequestStatus.CLOSED, RequestStatus.CANCELLED)
    return isinstance(event, (CounsellorStateChanged, PrimaryCounsellorChanged, StateMayBeStale))

"""The timers: wait expiries, presence lapses, accept timeouts, and the periodic sweep (queue and
old attempt counts).

Every process runs them; each expiry is claimed in the database (a conditional UPDATE or a
row lock with SKIP LOCKED), so it takes effect exactly once, and nothing lives only in a
process's memory: a restarted process picks up where the state in the database says.
"""

from __future__ import annotations

import asyncio
import logging
import time

from domain.errors import ServiceUnavailable
from domain.events import (
    CounsellorStateChanged,
    PrimaryCounsellorChanged,
    RequestChanged,
    SettingsChanged,
    StateMayBeStale,
)
from domain.model import RequestStatus
from domain.stopping import cancel_and_wait
from domain.throttling import forget_old_attempts
from domain.use_cases import Deps
from domain.use_cases.acceptance import take_back_unaccepted
from domain.use_cases.documents import sweep_orphan_files
from domain.use_cases.presence import lapse_silent_counsellors
from domain.use_cases.privacy import erase_due_clients
from domain.use_cases.routing import Dispatcher
from persistence.event_bus import EventBus

log = logging.getLogger(__name__)


class QueueSweeper:
    """Runs the timers every `tick` seconds, the dispatcher when a wait ends and every `period`
    seconds, and the dispatcher on changes committed by other processes."""

    def __init__(
        self, deps: Deps, dispatcher: Dispatcher, bus: EventBus, period: float, tick: float = 1.0
    ) -> None:
        self._deps = deps
        self._dispatcher = dispatcher
        self._bus = bus
        self._period = period
        self._tick = tick
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._timer()), asyncio.create_task(self._listen())]

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)

    async def _until_wait_end(self) -> float | None:
        now = self._deps.clock.now()
        async with self._deps.uow(write=False) as uow:
            wait_end = await uow.requests.next_wait_end(now)
        return None if wait_end is None else max((wait_end - now).total_seconds(), 0.0) + 0.01

    async def sweep(self) -> None:
        """The periodic round: dispatch the queue, delete attempt counts no window holds any more
        (they would keep a trace of who tried to sign in or register), erase deleted clients whose
        grace period is over, and delete document files no row names (an upload that failed after
        storing its file, a deletion that left it)."""
        await self._dispatcher.run()
        await forget_old_attempts(self._deps)
        # Deleted clients whose grace period is over: erased through the one erasure path.
        await erase_due_clients(self._deps)
        # Last and on its own: a file store that is down must not hold up the duties above.
        try:
            await sweep_orphan_files(self._deps)
        except ServiceUnavailable:
            log.warning("orphan document files not swept: the document store is unreachable")

    async def run_timers(self) -> None:
        """One round: lapse silent counsellors, take back unaccepted chats."""
        await lapse_silent_counsellors(self._deps)
        await take_back_unaccepted(self._deps)

    async def _timer(self) -> None:
        last_sweep = time.monotonic()
        while True:
            try:
                until_wait_end = await self._until_wait_end()
                await asyncio.sleep(
                    min(self._tick, until_wait_end if until_wait_end is not None else self._tick)
                )
                await self.run_timers()
                if time.monotonic() - last_sweep >= self._period:
                    last_sweep = time.monotonic()
                    await self.sweep()
                elif until_wait_end is not None and until_wait_end <= self._tick:
                    await self._dispatcher.run()
            except asyncio.CancelledError:
                raise
            except ServiceUnavailable:
                log.warning("timer round skipped: the database is unreachable")
                await asyncio.sleep(self._tick)
            except Exception:
                log.warning("timer round failed; trying again", exc_info=True)
                await asyncio.sleep(self._tick)

    async def _listen(self) -> None:
        """A change committed anywhere that could free capacity wakes this process's dispatcher."""
        while True:
            try:
                async with self._bus.subscribe() as events:
                    async for event in events:
                        if _may_free_capacity(event):
                            await self._dispatcher.request()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("event listener failed; resubscribing", exc_info=True)
                await asyncio.sleep(1)


def _may_free_capacity(event: object) -> bool:
    if isinstance(event, RequestChanged):
        return event.request.status in (RequestStatus.CLOSED, RequestStatus.CANCELLED)
    return isinstance(
        event, (CounsellorStateChanged, PrimaryCounsellorChanged, SettingsChanged, StateMayBeStale)
    )

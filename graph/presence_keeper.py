"""Open subscriptions are signs of life: a counsellor with one stays ONLINE."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator

from domain.stopping import cancel_and_wait
from domain.use_cases import Deps
from domain.use_cases.presence import keep_alive

log = logging.getLogger(__name__)


class PresenceKeeper:
    """Counts each counsellor's open subscriptions in this process and reports them as alive.

    When the last one closes, reporting stops and the presence timeout starts to run.
    """

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._open: Counter[int] = Counter()
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def holding(self, counsellor_id: int | None) -> AsyncIterator[None]:
        if counsellor_id is None:
            yield
            return
        try:
            await self.hold(counsellor_id)
            yield
        finally:
            self.release(counsellor_id)

    async def hold(self, counsellor_id: int) -> None:
        """One more open subscription of the counsellor's (each `hold` is `release`d once)."""
        self._open[counsellor_id] += 1
        await keep_alive(self._deps, [counsellor_id])

    def release(self, counsellor_id: int) -> None:
        self._open[counsellor_id] -= 1
        if self._open[counsellor_id] <= 0:
            del self._open[counsellor_id]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._report())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _interval(self) -> float:
        async with self._deps.uow(write=False) as uow:
            timeout = (await uow.settings.get()).presence_timeout_seconds
        return max(0.2, min(10.0, timeout / 3))

    async def _report(self) -> None:
        last = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.sleep(0.2)
                if loop.time() - last < await self._interval():
                    continue  # the interval follows the settings as they are now
                last = loop.time()
                await keep_alive(self._deps, list(self._open))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("could not report open subscriptions as alive; trying again", exc_info=True)
                await asyncio.sleep(1)

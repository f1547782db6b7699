"""The observer wired around what the domain does not time itself: event publishing and dispatch runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from domain.events import Event
from domain.observer import Observer
from domain.use_cases import Deps
from domain.use_cases.routing import dispatch_once

Publish = Callable[[Event], Awaitable[None]]


def observed_publish(publish: Publish, observer: Observer) -> Publish:
    """`publish`, reporting each committed change's event first (kind, routing outcome)."""

    async def observed(event: Event) -> None:
        observer.event_published(event)
        await publish(event)

    return observed


def observed_dispatch(
    observer: Observer, dispatch: Callable[[Deps], Awaitable[int]] = dispatch_once
) -> Callable[[Deps], Awaitable[int]]:
    """`dispatch`, reporting each run: requests moved, duration, failure (a cancelled run is no run)."""

    async def observed(deps: Deps) -> int:
        started = time.perf_counter()
        try:
            moved = await dispatch(deps)
        except asyncio.CancelledError:
            raise
        except BaseException:
            observer.dispatch_run(0, time.perf_counter() - started, failed=True)
            raise
        observer.dispatch_run(moved, time.perf_counter() - started, failed=False)
        return moved

    return observed

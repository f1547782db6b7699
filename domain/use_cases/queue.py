"""Where a queued request stands: its position and an estimate of the wait."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from domain.model import Channel, Request, RequestStatus
from domain.use_cases import Deps

# Assignments in this window give the rate the estimate extrapolates from.
RATE_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class QueueStatus:
    position: int
    estimated_wait_seconds: int | None


async def queue_status(deps: Deps, request: Request) -> QueueStatus | None:
    """Position among requests waiting for the same pool, and the wait at the recent assignment rate.

    None unless QUEUED; the estimate is None when nothing was assigned recently.
    """
    if request.status is not RequestStatus.QUEUED:
        return None
    now = deps.clock.now()
    async with deps.uow(write=False) as uow:
        position = await uow.requests.queue_position(request, now)
        recent = await uow.requests.assignments_since(request.channel, now - RATE_WINDOW)
    if recent == 0:
        return QueueStatus(position, None)
    per_second = recent / RATE_WINDOW.total_seconds()
    return QueueStatus(position, math.ceil(position / per_second))


@dataclass(frozen=True)
class QueueNow:
    """The queue of one channel now: how many wait, and how long the oldest has waited."""

    length: int
    oldest_wait_seconds: float


async def queue_now(deps: Deps) -> dict[Channel, QueueNow]:
    """Every channel's queue now (for monitoring: counts and ages, nothing about who waits)."""
    now = deps.clock.now()
    async with deps.uow(write=False) as uow:
        found = await uow.requests.queue_summary()
    summary = {channel: QueueNow(0, 0.0) for channel in Channel}
    for channel, (length, oldest) in found.items():
        waited = (now - oldest).total_seconds() if oldest is not None else 0.0
        summary[channel] = QueueNow(length, max(waited, 0.0))
    return summary

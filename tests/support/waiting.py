"""Waiting for a state to be reached: the condition itself, bounded by a generous timeout.

The timeout only bounds a failure; a passing test never waits for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# Long enough for a loaded machine with two cores shared by several test runs.
GENEROUS = 20.0


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, within: float = GENEROUS, every: float = 0.05
) -> T:
    """The first truthy result of `check`; AssertionError naming `what` when none came `within` s."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(every)

"""Stopping a background task promptly, whatever the code under it does with a cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

# A task that survived a cancellation is cancelled again this often until it ends; long enough
# not to interrupt the cleanup of a task that honoured the first (closing its connections).
RECANCEL_SECONDS = 1.0


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and return once it ended (raising what it raised, if not the cancellation).

    One `cancel()` is not enough: code under the task can swallow it. Python 3.11's
    `asyncio.wait_for` does so when the awaited result arrives in the same loop iteration as the
    cancellation (CPython gh-86296, fixed in 3.12), and a loop around such a call then runs on,
    so that `await task` never returns and a server hangs on shutdown.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
    with contextlib.suppress(asyncio.CancelledError):
        await task

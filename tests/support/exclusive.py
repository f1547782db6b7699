"""Tests that must have PostgreSQL to themselves among the pytest-xdist workers of one run.

The multiprocess tests run two server processes with a pool of up to 30 connections each and
race hundreds of requests through them; next to another worker's PostgreSQL tests they could
exhaust the server's `max_connections` (100 by default). A test marked `exclusive` holds a lock
that every other test of the run holds shared, so it runs while no other test of the run does.

Two flock()s on files in the run's shared tmp folder: the gate lets no new shared holder in once
an exclusive one waits (so it is not starved), the main lock is the one held during the test.
Without xdist there is nothing to share and the lock is not taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import WORKER


def _locks(factory: pytest.TempPathFactory) -> Path | None:
    """The folder all workers of this run share (the parent of each worker's basetemp)."""
    if not WORKER:
        return None
    return factory.getbasetemp().parent


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def exclusive(factory: pytest.TempPathFactory) -> Iterator[None]:
    folder = _locks(factory)
    if folder is None:
        yield
        return
    with _flock(folder / "exclusive.gate", fcntl.LOCK_EX), _flock(folder / "exclusive.lock", fcntl.LOCK_EX):
        yield


@contextlib.contextmanager
def shared(factory: pytest.TempPathFactory) -> Iterator[None]:
    folder = _locks(factory)
    if folder is None:
        yield
        return
    with _flock(folder / "exclusive.gate", fcntl.LOCK_SH):
        pass  # only waits while an exclusive test waits or runs
    with _flock(folder / "exclusive.lock", fcntl.LOCK_SH):
        yield

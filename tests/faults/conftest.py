"""Fixtures of the fault tests: a redis-server of the test's own (never the shared one on 6379)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.e2e.support import free_port
from tests.faults.support import RedisServer, SilentListener


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of this test's own, killed afterwards."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def silent_redis() -> Iterator[SilentListener]:
    """A loopback port that accepts connections and never answers (a hung or overloaded Redis)."""
    with SilentListener() as listener:
        yield listener

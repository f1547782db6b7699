"""Attempt counters keep no reversible trace of who tried (issue 8, docs/security.md).

A counter's key is a hash keyed with a secret: without it neither trying every IPv4 address nor
a dictionary of e-mails finds the key's owner. Attempts no window holds any more are deleted by
the periodic sweep, driven here through its public method with a fixed clock.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from redis import asyncio as redis
from sqlalchemy import select

from bootstrap.wiring import counter_secret
from domain.errors import Unauthenticated
from domain.throttling import StoredThrottle
from domain.use_cases import Deps
from domain.use_cases.accounts import login, register_client
from domain.use_cases.routing import Dispatcher
from persistence.event_bus import EventBus
from persistence.redis_throttle import RedisThrottle
from persistence.sweeper import QueueSweeper
from persistence.tables import rate_limit_hits
from tests.fakes import FixedClock
from tests.integration.conftest import PASSWORD, World
from tests.services import REDIS_URL, REQUIRED, unique_name

ADDRESS = "203.0.113.7"
UNKNOWN = "nobody@example.org"


async def failed_login(deps: Deps, email: str = UNKNOWN) -> None:
    with pytest.raises(Unauthenticated):
        await login(deps, email, "wrong-password-1", address=ADDRESS)


async def stored_keys(world: World) -> list[str]:
    async with world.engines.read.connect() as conn:
        query = select(rate_limit_hits.c.key).order_by(rate_limit_hits.c.id)
        return list((await conn.execute(query)).scalars())


def plain_hashes(*values: str) -> set[str]:
    """What the keys used to end in: SHA-256 without a secret, found by hashing guesses."""
    return {hashlib.sha256(v.encode()).hexdigest()[:32] for v in values}


async def test_stored_counter_keys_are_not_plain_hashes_of_email_or_address(world: World) -> None:
    await failed_login(world.deps)
    await register_client(world.deps, "Kim", "kim@example.org", PASSWORD, None, origin=ADDRESS)
    keys = await stored_keys(world)
    assert [k.split(":")[0] for k in keys] == ["login-account", "login-address", "register-address"]
    assert not {k.split(":")[1] for k in keys} & plain_hashes(UNKNOWN, ADDRESS, "kim@example.org")
    assert not any(UNKNOWN in k or ADDRESS in k for k in keys)
    # One address's sign-in and registration counters cannot be linked either.
    assert len({k.split(":")[1] for k in keys}) == 3
    # Another secret gives other keys; the same secret (every process of a deployment) the same.
    other = replace(world.deps, counter_secret=secrets.token_bytes(32))
    await failed_login(other)
    await failed_login(world.deps)
    again = await stored_keys(world)
    assert again[3:5] != keys[:2]
    assert again[5:] == keys[:2]


def test_the_counter_secret_comes_from_the_secret_key_but_is_another_key() -> None:
    assert counter_secret("first secret key") == counter_secret("first secret key")
    assert counter_secret("first secret key") != counter_secret("second secret key")
    assert counter_secret("first secret key") != b"first secret key"


@pytest.fixture
async def redis_throttle(world: World) -> AsyncIterator[tuple[RedisThrottle, str]]:
    if not REDIS_URL:
        if REQUIRED:
            pytest.fail("STAMM_REQUIRE_SERVICES=1 but TEST_REDIS_URL is unset")
        pytest.skip("TEST_REDIS_URL is unset")
    namespace = unique_name("stamm.test")
    found = RedisThrottle(REDIS_URL, namespace, StoredThrottle(world.deps.uow))
    try:
        yield found, namespace
    finally:
        await found.close()


async def test_counter_keys_in_redis_are_not_plain_hashes(
    world: World, redis_throttle: tuple[RedisThrottle, str]
) -> None:
    throttle, namespace = redis_throttle
    await failed_login(replace(world.deps, throttle=throttle))
    client = redis.Redis.from_url(REDIS_URL or "")
    try:
        names = sorted([n.decode() async for n in client.scan_iter(f"{namespace}:throttle:*")])
        await client.delete(*names)
    finally:
        await client.aclose()
    assert [n.split(":")[-2] for n in names] == ["login-account", "login-address"]
    assert not {n.split(":")[-1] for n in names} & plain_hashes(UNKNOWN, ADDRESS)


async def counted(world: World) -> list[tuple[str, datetime]]:
    async with world.engines.read.connect() as conn:
        query = select(rate_limit_hits.c.key, rate_limit_hits.c.at).order_by(rate_limit_hits.c.id)
        return [(key, at) for key, at in await conn.execute(query)]


async def test_the_sweep_deletes_attempts_older_than_the_longest_window(
    world: World, clock: FixedClock, bus: EventBus
) -> None:
    deps = world.deps
    sweeper = QueueSweeper(deps, Dispatcher(deps), bus, period=60)
    longest = deps.limits.longest_window_seconds
    assert longest == 3600  # registrations are counted per hour, sign-ins per 15 minutes
    start = clock.now()
    await failed_login(deps)
    await register_client(deps, "Kim", "kim@example.org", PASSWORD, None, origin=ADDRESS)
    clock.advance(longest / 2)
    await failed_login(deps, "someone@example.org")
    clock.advance(longest / 2 - 1)
    await sweeper.sweep()
    before = await counted(world)
    assert {at for _, at in before} == {start, start + timedelta(seconds=longest / 2)}
    # A window after an attempt, it leaves the window (as the throttle counts): the sweep deletes it.
    clock.advance(1)
    await sweeper.sweep()
    assert await counted(world) == [(key, at) for key, at in before if at > start]
    clock.advance(longest)
    await sweeper.sweep()
    assert await counted(world) == []

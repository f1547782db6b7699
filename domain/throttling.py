"""Attempts at limited things (sign-ins, registrations), counted before the work they guard."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from domain.errors import RateLimited
from domain.ports import Attempt, Throttle, UnitOfWorkFactory
from domain.use_cases import Deps


class StoredThrottle:
    """Attempts counted in the database, each in a transaction of its own: committed before the
    work it guards starts, and kept when that work then fails."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def attempt(self, key: str, limit: int, window_seconds: int, now: datetime) -> Attempt:
        async with self._uow() as uow:
            found = await uow.limits.attempt(key, limit, now - timedelta(seconds=window_seconds), now)
            await uow.commit()
        return found

    async def take_back(self, attempt: Attempt) -> None:
        async with self._uow() as uow:
            await uow.limits.take_back(attempt)
            await uow.commit()

    async def clear(self, key: str) -> None:
        async with self._uow() as uow:
            await uow.limits.clear(key)
            await uow.commit()


def network_of(address: str) -> str:
    """What one party controls of a network address: an IPv4 address, an IPv6 /64 (a subscriber
    gets a whole /64, so counting single addresses would give an attacker 2**64 fresh counters)."""
    try:
        found = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return address
    if isinstance(found, ipaddress.IPv6Address):
        if found.ipv4_mapped is not None:  # a dual-stack socket's view of an IPv4 peer
            return str(found.ipv4_mapped)
        return str(ipaddress.IPv6Network((found, 64), strict=False))
    return str(found)


def counter_key(deps: Deps, kind: str, value: str) -> str:
    """The key counting attempts of one e-mail or address: a hash keyed with a secret, so a stored
    key gives neither away, not even to someone hashing every IPv4 address or a dictionary of e-mails."""
    # The kind is hashed too: one address's sign-in and registration counters are not linkable.
    digest = hmac.new(deps.counter_secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest[:32]}"


async def forget_old_attempts(deps: Deps) -> int:
    """Delete the attempts counted in the database that no window holds any more; how many.
    Counters in Redis expire by themselves."""
    since = deps.clock.now() - timedelta(seconds=deps.limits.longest_window_seconds)
    async with deps.uow() as uow:
        forgotten = await uow.limits.forget_until(since)
        await uow.commit()
    return forgotten


def throttle_of(deps: Deps) -> Throttle:
    return deps.throttle or StoredThrottle(deps.uow)


def seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from now until then, rounded up, at least one."""
    return max(1, math.ceil((moment - now).total_seconds()))


def retry_after(oldest: datetime, since: datetime, now: datetime) -> int:
    """Seconds until the oldest attempt counted leaves the window (`since`..`now`): at most a
    window, also when a parallel attempt counted first was stamped a moment after `now`."""
    return min(seconds_until(oldest, since), seconds_until(now, since))


def wait_phrase(seconds: int) -> str:
    """'45 seconds', '14 minutes', '2 hours': the wait rounded up to the unit a person reads."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    if minutes <= 90:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = math.ceil(minutes / 60)
    return f"{hours} hours"


def rate_limited(refusal: str, retry_after_seconds: int) -> RateLimited:
    return RateLimited(f"{refusal}; try again in {wait_phrase(retry_after_seconds)}.", retry_after_seconds)


async def count_attempts(
    deps: Deps, limits: Sequence[tuple[str, int]], window_seconds: int, refusal: str
) -> list[Attempt]:
    """Count one attempt against each (key, limit), durably, before the work they guard.

    When any limit is reached nothing stays counted and RATE_LIMITED says the real wait.
    """
    throttle = throttle_of(deps)
    now = deps.clock.now()
    counted: list[Attempt] = []
    for key, limit in limits:
        attempt = await throttle.attempt(key, limit, window_seconds, now)
        if attempt.id is None:
            for earlier in counted:
                await throttle.take_back(earlier)
            raise rate_limited(refusal, attempt.retry_after_seconds)
        counted.append(attempt)
    return counted

"""Attempts counted in Redis, shared by every process of a deployment (when the bus is Redis).

One sorted set per key, an attempt's time as its score. A Lua script runs atomically in Redis:
forget what left the window, count, and add one only while under the limit, so parallel attempts
in any number of processes never pass it. Times come from the domain's clock, like the database
throttle's, so both behave alike (processes of one deployment share a clock, NTP-close).

While Redis is out of reach attempts are counted by the fallback (the database): sign-in and
registration keep working, still limited, with the count started afresh for the outage.
"""

from __future__ import annotations

import logging
import math
import uuid
from datetime import datetime

from redis import asyncio as redis
from redis.exceptions import RedisError

from domain.ports import Attempt, Throttle

log = logging.getLogger(__name__)
_PREFIX = "redis:"  # marks the attempts counted here (the fallback's ids are its own)
_UNREACHABLE = (RedisError, OSError)

# KEYS[1]: the key's set. ARGV: now (ms), window start (ms), limit, the new attempt's id, window (ms).
_ATTEMPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, oldest[2] or ARGV[1]}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, ARGV[1]}
"""


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


class RedisThrottle:
    """The Throttle port on Redis, with a fallback for while Redis cannot be reached."""

    def __init__(self, url: str, namespace: str, fallback: Throttle, timeout: float = 2.0) -> None:
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        self._namespace = namespace
        self._fallback = fallback
        self._script = self._redis.register_script(_ATTEMPT)

    def _name(self, key: str) -> str:
        # Deployments sharing a Redis keep their counters apart.
        return f"{self._namespace}:throttle:{key}"

    async def attempt(self, key: str, limit: int, window_seconds: int, now: datetime) -> Attempt:
        window_ms = window_seconds * 1000
        since = _ms(now) - window_ms
        member = _PREFIX + uuid.uuid4().hex
        try:
            counted, oldest = await self._script(
                keys=[self._name(key)], args=[_ms(now), since, limit, member, window_ms]
            )
        except _UNREACHABLE as exc:
            log.warning("Redis unreachable (%s): counting attempts in the database", type(exc).__name__)
            return await self._fallback.attempt(key, limit, window_seconds, now)
        if counted:
            return Attempt(key, member)
        # The oldest attempt counted leaves the window a window after it was made (at most a window
        # from now, also when a parallel attempt counted first was stamped a moment later).
        return Attempt(key, None, min(window_seconds, max(1, math.ceil((float(oldest) - since) / 1000))))

    async def take_back(self, attempt: Attempt) -> None:
        if attempt.id is None or not attempt.id.startswith(_PREFIX):
            await self._fallback.take_back(attempt)
            return
        try:
            await self._redis.zrem(self._name(attempt.key), attempt.id)
        except _UNREACHABLE as exc:  # it stays counted: erring on the side of the limit
            log.warning("Redis unreachable (%s): an attempt stays counted", type(exc).__name__)

    async def clear(self, key: str) -> None:
        await self._fallback.clear(key)
        try:
            await self._redis.delete(self._name(key))
        except _UNREACHABLE as exc:
            log.warning("Redis unreachable (%s): attempts stay counted", type(exc).__name__)

    async def close(self) -> None:
        await self._redis.aclose()

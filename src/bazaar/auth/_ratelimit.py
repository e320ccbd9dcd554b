"""Token buckets per principal (and per client address for failed authentications).

``rate`` tokens per second refill a bucket of ``burst``; a request takes one. In-process by
default; in Redis (one Lua script, Redis's own clock) when configured, so the limit holds across
app servers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: float


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` requests per second sustained, bursts of up to ``burst``."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs rate > 0 and burst >= 1")


_ALLOWED = Decision(True, 0.0)


class RateLimiter(Protocol):
    async def take(self, key: str, cost: float = 1.0) -> Decision:
        """Take ``cost`` tokens from ``key``'s bucket; ``cost=0`` only looks."""
        ...


class MemoryRateLimiter:
    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._rate, self._burst = limit.rate, limit.burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, key: str, cost: float = 1.0) -> Decision:
        return self.take_now(key, cost)

    def take_now(self, key: str, cost: float = 1.0) -> Decision:
        """:meth:`take` without a coroutine (no lock either: one event loop's thread)."""
        now = self._clock()
        rate, burst = self._rate, self._burst
        found = self._buckets.get(key)
        if found is None:
            tokens = burst
        else:
            tokens = found[0] + (now - found[1]) * rate
            if tokens > burst:
                tokens = burst
        if cost == 0:
            allowed = tokens >= 1
        else:
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
        if found is None and len(self._buckets) > 100_000:
            # Full buckets carry no information: drop them.
            self._buckets = {k: v for k, v in self._buckets.items()
                             if v[0] + (now - v[1]) * rate < burst}
        self._buckets[key] = (tokens, now)
        if allowed:
            return _ALLOWED
        return Decision(False, ((cost or 1) - tokens) / rate)


# KEYS[1] bucket; ARGV rate, burst, cost. Returns {allowed, retry_after_ms}.
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(b[1]) or burst
local stamp = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local allowed = 0
if cost == 0 then
  if tokens >= 1 then allowed = 1 end
elseif tokens >= cost then
  allowed = 1
  tokens = tokens - cost
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
local need = cost
if need == 0 then need = 1 end
local wait = 0
if allowed == 0 then wait = math.ceil((need - tokens) / rate * 1000) end
return {allowed, wait}
"""


class RedisRateLimiter:
    def __init__(self, redis: Redis, limit: RateLimit, *,
                 prefix: str = "bazaar:auth:bucket:") -> None:
        self._redis = redis
        self._limit = limit
        self._prefix = prefix
        self._script = redis.register_script(_LUA)

    async def take(self, key: str, cost: float = 1.0) -> Decision:
        allowed, wait_ms = await self._script(
            keys=[self._prefix + key], args=[self._limit.rate, self._limit.burst, cost])
        return Decision(bool(int(allowed)), int(wait_ms) / 1000)


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` is whole seconds; never advertise 0 for a refusal."""
    return str(max(1, math.ceil(seconds)))

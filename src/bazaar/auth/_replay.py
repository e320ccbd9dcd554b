"""Nonces seen within the signature window: a second use of a nonce is a replay.

A nonce is remembered only after its signature verified (an attacker cannot burn a client's
nonces with forged requests). Redis ``SET NX EX`` when configured, in-process otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis


class NonceStore(Protocol):
    async def remember(self, key: str, ttl: float) -> bool:
        """Store ``key`` for ``ttl`` seconds; True if it was new, False if seen before."""
        ...


class MemoryNonceStore:
    """Nonces in a dict, swept of expired entries as it grows."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 max_entries: int = 1_000_000) -> None:
        self._seen: dict[str, float] = {}
        self._clock = clock
        self._max = max_entries
        self._next_sweep = 1024

    async def remember(self, key: str, ttl: float) -> bool:
        return self.remember_now(key, ttl)

    def remember_now(self, key: str, ttl: float) -> bool:
        """:meth:`remember` without a coroutine (the authenticator's hot path)."""
        now = self._clock()
        expires = self._seen.get(key)
        if expires is not None and expires > now:
            return False
        self._seen[key] = now + ttl
        if len(self._seen) >= self._next_sweep:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
            if len(self._seen) >= self._max:
                # Refuse to grow without bound: keep the newest half. Older nonces are beyond
                # most of the window anyway, and `created` still bounds any replay.
                keep = sorted(self._seen.items(), key=lambda kv: kv[1])[len(self._seen) // 2:]
                self._seen = dict(keep)
            self._next_sweep = max(1024, 2 * len(self._seen))
        return True


class RedisNonceStore:
    """Nonces in Redis: ``SET key 1 NX EX ttl``, atomic across every app server."""

    def __init__(self, redis: Redis, *, prefix: str = "bazaar:auth:nonce:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def remember(self, key: str, ttl: float) -> bool:
        ok = await self._redis.set(self._prefix + key, b"1", nx=True, ex=max(1, int(ttl + 0.999)))
        return bool(ok)

"""Revoked token ids (access-token ``jti`` and refresh-family ids), checked on every request.

In-process by default; in Redis when configured so every app server sees a logout at once.
The database keeps the durable record (``auth_revocations``) to reload after a restart.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis


class Revocations(Protocol):
    async def add(self, revoked_id: str, until: float) -> None:
        """Revoke ``revoked_id`` until the UNIX time ``until`` (when its tokens expire anyway)."""
        ...

    async def any_revoked(self, *ids: str) -> bool:
        """Whether any of ``ids`` is revoked."""
        ...


class MemoryRevocations:
    """Revocations held in this process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._until: dict[str, float] = {}
        self._clock = clock

    async def add(self, revoked_id: str, until: float) -> None:
        self.add_now(revoked_id, until)

    def add_now(self, revoked_id: str, until: float) -> None:
        now = self._clock()
        if len(self._until) > 100_000:
            self._until = {k: v for k, v in self._until.items() if v > now}
        self._until[revoked_id] = until

    async def any_revoked(self, *ids: str) -> bool:
        return self.any_revoked_now(*ids)

    def any_revoked_now(self, *ids: str) -> bool:
        """:meth:`any_revoked` without a coroutine (the authenticator's hot path)."""
        if not self._until:
            return False
        now = self._clock()
        for i in ids:
            until = self._until.get(i)
            if until is not None and until > now:
                return True
        return False


class RedisRevocations:
    """Revocations shared through Redis keys that expire with the tokens they kill."""

    def __init__(self, redis: Redis, *, prefix: str = "bazaar:auth:revoked:",
                 clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._prefix = prefix
        self._clock = clock

    async def add(self, revoked_id: str, until: float) -> None:
        ttl = max(1, int(until - self._clock()) + 1)
        await self._redis.set(self._prefix + revoked_id, b"1", ex=ttl)

    async def any_revoked(self, *ids: str) -> bool:
        if not ids:
            return False
        count = await self._redis.exists(*(self._prefix + i for i in ids))
        return bool(count)

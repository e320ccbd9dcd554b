"""The Redis data structures the explainer names, with in-process twins for ``memory://``.

* per-item counters (views, clicks): a hash per item, ``HINCRBY``;
* a deduplicated list of commenters sorted by time: a sorted set scored by the last comment;
* daily logins: one bitmap per day indexed by user id, ``SETBIT``; ``BITCOUNT`` gives daily
  actives and ``BITOP AND`` "active on every one of these days" (1 bit per user: 10M users
  are 1.2 MB a day).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import redis
import redis.asyncio as aioredis

from bazaar.cache._errors import CacheBackendError, CacheConfigError

_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_USER_ID = 2**32 - 1  # Redis bitmaps hold at most 2^32 bits


def _check_id(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_USER_ID:
        raise CacheConfigError(f"{what} must be an int in [0, 2**32), got {value!r}")
    return value


def _check_field(name: str) -> str:
    if not isinstance(name, str) or not _FIELD.match(name):
        raise CacheConfigError(f"counter names are lowercase identifiers, got {name!r}")
    return name


class Counters(Protocol):
    async def incr(self, item_id: int, name: str, by: int = 1) -> int: ...
    async def counts(self, item_id: int) -> dict[str, int]: ...


class Commenters(Protocol):
    async def add(self, item_id: int, user_id: int, at: float) -> bool: ...
    async def recent(self, item_id: int, limit: int = 20) -> list[tuple[int, float]]: ...


class Logins(Protocol):
    async def record(self, user_id: int, day: date) -> bool: ...
    async def was_active(self, user_id: int, day: date) -> bool: ...
    async def daily_actives(self, day: date) -> int: ...
    async def active_on_all(self, days: Sequence[date]) -> int: ...


@dataclass(frozen=True)
class Structures:
    """The three structures over one store."""

    counters: Counters
    commenters: Commenters
    logins: Logins
    backend: str


class _RedisStructures:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._r = client
        self._p = prefix

    async def incr(self, item_id: int, name: str, by: int = 1) -> int:
        key = f"{self._p}:counters:{_check_id(item_id, 'item id')}"
        try:
            return int(await self._r.hincrby(key, _check_field(name), by))
        except redis.RedisError as exc:
            raise CacheBackendError(f"HINCRBY failed: {exc}") from exc

    async def counts(self, item_id: int) -> dict[str, int]:
        key = f"{self._p}:counters:{_check_id(item_id, 'item id')}"
        try:
            raw = await self._r.hgetall(key)
        except redis.RedisError as exc:
            raise CacheBackendError(f"HGETALL failed: {exc}") from exc
        return {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}

    async def add(self, item_id: int, user_id: int, at: float) -> bool:
        key = f"{self._p}:commenters:{_check_id(item_id, 'item id')}"
        try:
            # GT: a repeat commenter moves to their latest comment, never backwards.
            added = await self._r.zadd(key, {str(_check_id(user_id, 'user id')): at}, gt=True)
        except redis.RedisError as exc:
            raise CacheBackendError(f"ZADD failed: {exc}") from exc
        return bool(added)

    async def recent(self, item_id: int, limit: int = 20) -> list[tuple[int, float]]:
        key = f"{self._p}:commenters:{_check_id(item_id, 'item id')}"
        try:
            rows: list[tuple[bytes, float]] = await self._r.zrevrange(  # type: ignore[assignment]
                key, 0, max(0, limit - 1), withscores=True)
        except redis.RedisError as exc:
            raise CacheBackendError(f"ZREVRANGE failed: {exc}") from exc
        return [(int(member), float(score)) for member, score in rows]

    def _day(self, day: date) -> str:
        return f"{self._p}:logins:{day.isoformat()}"

    async def record(self, user_id: int, day: date) -> bool:
        try:
            old = await self._r.setbit(self._day(day), _check_id(user_id, "user id"), 1)
        except redis.RedisError as exc:
            raise CacheBackendError(f"SETBIT failed: {exc}") from exc
        return not old

    async def was_active(self, user_id: int, day: date) -> bool:
        try:
            return bool(await self._r.getbit(self._day(day), _check_id(user_id, "user id")))
        except redis.RedisError as exc:
            raise CacheBackendError(f"GETBIT failed: {exc}") from exc

    async def daily_actives(self, day: date) -> int:
        try:
            return int(await self._r.bitcount(self._day(day)))
        except redis.RedisError as exc:
            raise CacheBackendError(f"BITCOUNT failed: {exc}") from exc

    async def active_on_all(self, days: Sequence[date]) -> int:
        if not days:
            raise CacheConfigError("give at least one day")
        scratch = f"{self._p}:logins:and:{uuid.uuid4().hex}"
        try:
            pipe = self._r.pipeline(transaction=True)
            pipe.bitop("AND", scratch, *[self._day(d) for d in days])
            pipe.bitcount(scratch)
            pipe.delete(scratch)
            replies = await pipe.execute()
        except redis.RedisError as exc:
            raise CacheBackendError(f"BITOP failed: {exc}") from exc
        return int(replies[1])


class _MemoryStructures:
    def __init__(self) -> None:
        self._counters: dict[int, dict[str, int]] = defaultdict(dict)
        self._commenters: dict[int, dict[int, float]] = defaultdict(dict)
        self._logins: dict[date, int] = defaultdict(int)  # a Python int as the bitmap
        self._lock = threading.Lock()

    async def incr(self, item_id: int, name: str, by: int = 1) -> int:
        row = self._counters[_check_id(item_id, "item id")]
        with self._lock:
            row[_check_field(name)] = row.get(name, 0) + by
            return row[name]

    async def counts(self, item_id: int) -> dict[str, int]:
        return dict(self._counters.get(_check_id(item_id, "item id"), {}))

    async def add(self, item_id: int, user_id: int, at: float) -> bool:
        users = self._commenters[_check_id(item_id, "item id")]
        with self._lock:
            previous = users.get(_check_id(user_id, "user id"))
            if previous is None or at > previous:
                users[user_id] = at
            return previous is None

    async def recent(self, item_id: int, limit: int = 20) -> list[tuple[int, float]]:
        users = self._commenters.get(_check_id(item_id, "item id"), {})
        ranked = sorted(users.items(), key=lambda kv: (kv[1], str(kv[0])), reverse=True)
        return [(u, float(t)) for u, t in ranked[: max(1, limit)]]

    async def record(self, user_id: int, day: date) -> bool:
        bit = 1 << _check_id(user_id, "user id")
        with self._lock:
            old = self._logins[day] & bit
            self._logins[day] |= bit
        return not old

    async def was_active(self, user_id: int, day: date) -> bool:
        return bool(self._logins.get(day, 0) >> _check_id(user_id, "user id") & 1)

    async def daily_actives(self, day: date) -> int:
        return self._logins.get(day, 0).bit_count()

    async def active_on_all(self, days: Sequence[date]) -> int:
        if not days:
            raise CacheConfigError("give at least one day")
        acc = self._logins.get(days[0], 0)
        for d in days[1:]:
            acc &= self._logins.get(d, 0)
        return acc.bit_count()


def redis_structures(url: str, *, prefix: str = "bazaar", timeout_s: float = 0.5) -> Structures:
    """The structures in Redis at ``url``."""
    client = aioredis.Redis.from_url(url, socket_timeout=timeout_s,
                                     socket_connect_timeout=timeout_s)
    impl = _RedisStructures(client, prefix)
    return Structures(impl, impl, impl, "redis")


def memory_structures() -> Structures:
    """The same structures in this process (the embedded default)."""
    impl = _MemoryStructures()
    return Structures(impl, impl, impl, "memory")

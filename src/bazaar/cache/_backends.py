"""Where cached bytes live: in-process (the embedded default), Redis, or Memcached.

Reads and writes on the request path are async. ``delete`` is synchronous on purpose: the
shop invalidates after a commit from inside its (synchronous, worker-thread) use cases, and the
write must not return before the stale entry is gone.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import OrderedDict
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import redis
import redis.asyncio as aioredis
from pymemcache.client.base import PooledClient
from pymemcache.exceptions import MemcacheError

from bazaar.cache._errors import CacheBackendError, CacheConfigError, InvalidCacheKeyError

_KEY_OK = re.compile(r"^[\x21-\x7e]{1,250}$")


def check_key(key: str) -> str:
    """Keys every backend accepts: 1-250 printable ASCII characters, no spaces (Memcached)."""
    if not isinstance(key, str) or not _KEY_OK.match(key):
        raise InvalidCacheKeyError(f"cache keys are 1-250 printable ASCII chars: {key!r}")
    return key


class Backend(Protocol):
    """A byte store with per-entry TTL."""

    name: str

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...
    def delete(self, key: str) -> None: ...
    async def aclose(self) -> None: ...


class MemoryBackend:
    """A dict with expiry and LRU eviction; thread-safe (invalidation comes from threads)."""

    name = "memory"

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise CacheConfigError("max_entries must be >= 1")
        self._max = max_entries
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    async def get(self, key: str) -> bytes | None:
        return self.get_now(key)

    def get_now(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return entry[1]

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + ttl_s, value)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)

    async def aclose(self) -> None:
        return None


class RedisBackend:
    """Redis via redis-py: asyncio client for reads/writes, a sync one for invalidation."""

    name = "redis"

    def __init__(self, url: str, *, timeout_s: float = 0.5) -> None:
        self._url = url
        self._aio = aioredis.Redis.from_url(url, socket_timeout=timeout_s,
                                            socket_connect_timeout=timeout_s)
        self.sync = redis.Redis.from_url(url, socket_timeout=timeout_s,
                                         socket_connect_timeout=timeout_s)

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._aio.get(key)
        except (redis.RedisError, OSError) as exc:
            raise CacheBackendError(f"redis GET failed: {exc}") from exc
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            await self._aio.set(key, value, px=max(1, int(ttl_s * 1000)))
        except (redis.RedisError, OSError) as exc:
            raise CacheBackendError(f"redis SET failed: {exc}") from exc

    def delete(self, key: str) -> None:
        try:
            self.sync.delete(key)
        except (redis.RedisError, OSError) as exc:
            raise CacheBackendError(f"redis DEL failed: {exc}") from exc

    async def aclose(self) -> None:
        await self._aio.aclose()
        self.sync.close()


class MemcachedBackend:
    """Memcached via pymemcache (thread-safe pool). pymemcache has no asyncio client, so
    request-path calls run in a worker thread."""

    name = "memcached"

    def __init__(self, host: str, port: int, *, timeout_s: float = 0.5,
                 pool_size: int = 16) -> None:
        self.sync = PooledClient((host, port), connect_timeout=timeout_s, timeout=timeout_s,
                                 max_pool_size=pool_size, no_delay=True)

    def _get(self, key: str) -> bytes | None:
        try:
            value = self.sync.get(key)
        except (MemcacheError, OSError) as exc:
            raise CacheBackendError(f"memcached get failed: {exc}") from exc
        return value if isinstance(value, bytes) else None

    def _set(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            # Memcached TTLs are whole seconds; never 0 (which means "no expiry").
            self.sync.set(key, value, expire=max(1, round(ttl_s)), noreply=False)
        except (MemcacheError, OSError) as exc:
            raise CacheBackendError(f"memcached set failed: {exc}") from exc

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, key)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await asyncio.to_thread(self._set, key, value, ttl_s)

    def delete(self, key: str) -> None:
        try:
            self.sync.delete(key, noreply=False)
        except (MemcacheError, OSError) as exc:
            raise CacheBackendError(f"memcached delete failed: {exc}") from exc

    async def aclose(self) -> None:
        self.sync.close()


def backend_from_url(url: str, *, timeout_s: float = 0.5) -> Backend:
    """``memory://[?max_entries=N]``, ``redis://host:port/db``, ``memcached://host:port``."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        query = parse_qs(parts.query)
        try:
            max_entries = int(query.get("max_entries", ["100000"])[0])
        except ValueError as exc:
            raise CacheConfigError(f"bad max_entries in {url!r}") from exc
        return MemoryBackend(max_entries)
    if parts.scheme in ("redis", "rediss", "unix"):
        return RedisBackend(url, timeout_s=timeout_s)
    if parts.scheme == "memcached":
        if not parts.hostname:
            raise CacheConfigError(f"memcached URL needs a host: {url!r}")
        try:
            port = parts.port or 11211
        except ValueError as exc:
            raise CacheConfigError(f"bad port in {url!r}") from exc
        return MemcachedBackend(parts.hostname, port, timeout_s=timeout_s)
    raise CacheConfigError(f"unknown cache URL {url!r}: use memory://, redis:// or memcached://")

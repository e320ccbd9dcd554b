"""Cache-aside: read the cache, on a miss load from the database once, store with a TTL.

Defences against a cache-miss attack, each switchable in :class:`CachePolicy`: cache the
"not found" answer for a short TTL, and a Bloom guard of existing keys that turns away ids
that cannot exist before they touch the cache or the database. TTLs get random jitter so
entries written together do not expire together. A cache server that fails is skipped for
``retry_after_s`` and requests read the database: a lost cache costs latency, not requests.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Generic, TypeVar

from bazaar.bloom import Key
from bazaar.cache._backends import Backend, check_key
from bazaar.cache._codec import NULL, VALUE, Codec
from bazaar.cache._errors import (
    CacheBackendError,
    CacheConfigError,
    CodecError,
    InvalidCacheKeyError,
)
from bazaar.cache._guard import KeyGuard

T = TypeVar("T")
log = logging.getLogger("bazaar.cache")


@dataclass(frozen=True)
class CachePolicy:
    """How a :class:`Cache` behaves. Times in seconds."""

    ttl_s: float = 300.0
    jitter: float = 0.1
    cache_nulls: bool = True
    null_ttl_s: float = 60.0
    use_guard: bool = True
    retry_after_s: float = 1.0

    def __post_init__(self) -> None:
        if self.ttl_s <= 0 or self.null_ttl_s <= 0:
            raise CacheConfigError("TTLs must be positive")
        if not 0 <= self.jitter < 1:
            raise CacheConfigError("jitter is a fraction in [0, 1)")
        if self.retry_after_s < 0:
            raise CacheConfigError("retry_after_s must be >= 0")


@dataclass
class CacheMetrics:
    """Counters, shared by the caches that report into one place."""

    hits: int = 0
    misses: int = 0
    null_hits: int = 0
    bloom_rejections: int = 0
    loader_calls: int = 0
    coalesced: int = 0
    stores: int = 0
    invalidations: int = 0
    backend_errors: int = 0
    bypassed: int = 0

    @property
    def database_queries(self) -> int:
        """In cache-aside every loader call is one database query."""
        return self.loader_calls

    def snapshot(self) -> dict[str, int]:
        return {**asdict(self), "database_queries": self.database_queries}


#: How many just-stored loads a late reader can still join (per Cache).
_RECENT_STORES = 1024


class Cache(Generic[T]):
    """Cache-aside over one backend for one kind of value (keys live under ``namespace:``)."""

    def __init__(self, backend: Backend, codec: Codec[T], *, namespace: str,
                 policy: CachePolicy | None = None, guard: KeyGuard | None = None,
                 metrics: CacheMetrics | None = None, rng: random.Random | None = None) -> None:
        self._backend = backend
        self._codec = codec
        self._ns = check_key(namespace)
        self.policy = policy or CachePolicy()
        self.guard = guard
        self.metrics = metrics or CacheMetrics()
        self._rng = rng or random.Random()
        self._inflight: dict[str, asyncio.Future[T | None]] = {}
        # Loads whose value was just stored, by key: (store number, result). A read whose
        # backend lookup began before that store and missed joins it instead of loading.
        self._stored: OrderedDict[str, tuple[int, asyncio.Future[T | None]]] = OrderedDict()
        self._stores_done = 0
        self._down_until = 0.0
        self._invalidated = 0
        # In-process backends answer without a coroutine (see peek_encoded).
        self._get_now: Callable[[str], bytes | None] | None = getattr(backend, "get_now", None)

    def key(self, key: Key) -> str:
        """The backend key for ``key``: ``namespace:key``."""
        text = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
        if not text or isinstance(key, bool) or not isinstance(key, str | bytes | int):
            raise InvalidCacheKeyError(f"cache keys are non-empty str, bytes or int: {key!r}")
        return check_key(f"{self._ns}:{text}")

    def _ttl(self) -> float:
        j = self.policy.jitter
        return self.policy.ttl_s * (1.0 + self._rng.uniform(-j, j)) if j else self.policy.ttl_s

    def _backend_up(self) -> bool:
        if time.monotonic() < self._down_until:
            self.metrics.bypassed += 1
            return False
        return True

    def _backend_failed(self, exc: CacheBackendError) -> None:
        self.metrics.backend_errors += 1
        self._down_until = time.monotonic() + self.policy.retry_after_s
        log.warning("cache backend %s failed, reading the database for %.1fs: %s",
                    self._backend.name, self.policy.retry_after_s, exc)

    def peek_encoded(self, key: int | str) -> bytes | None:
        """The codec's bytes cached for an existing ``key`` if an in-process backend holds
        them now; else None (not cached, a cached "not found", or a remote backend: use
        :meth:`get`). No coroutine, no decoding: for a hot path that sends the bytes as they
        are (a JSON codec's bytes are a response body). Counts a hit. A cached value means
        the key exists, so the guard is not asked."""
        get_now = self._get_now
        if get_now is None:
            return None
        raw = get_now(f"{self._ns}:{key}" if type(key) is int else self.key(key))
        if raw is None or raw[:1] != VALUE:
            return None
        self.metrics.hits += 1
        return raw[1:]

    async def get(self, key: Key, loader: Callable[[], Awaitable[T | None]]) -> T | None:
        """The value for ``key``, or None if it does not exist. ``loader`` reads the
        database; it runs at most once at a time per key in this process."""
        full = self.key(key)
        if (self.guard is not None and self.policy.use_guard
                and not await self.guard.might_exist(key)):
            self.metrics.bloom_rejections += 1
            return None
        began = self._stores_done
        if self._backend_up():
            try:
                raw = await self._backend.get(full)
            except CacheBackendError as exc:
                self._backend_failed(exc)
                raw = None
            if raw is not None:
                if raw[:1] == NULL:
                    self.metrics.null_hits += 1
                    return None
                try:
                    value = self._codec.decode(raw[1:])
                except CodecError:
                    log.warning("undecodable cache entry %s: reloading", full)
                else:
                    self.metrics.hits += 1
                    return value
        self.metrics.misses += 1
        pending = self._inflight.get(full)
        if pending is None:
            stored = self._stored.get(full)
            if stored is not None and stored[0] > began:  # stored while we were looking
                pending = stored[1]
        if pending is not None:
            self.metrics.coalesced += 1
            return await asyncio.shield(pending)
        return await self._load(full, loader)

    async def _load(self, full: str, loader: Callable[[], Awaitable[T | None]]) -> T | None:
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._inflight[full] = future
        generation = self._invalidated
        try:
            self.metrics.loader_calls += 1
            value = await loader()
        except BaseException as exc:
            self._forget(full, future)
            future.set_exception(exc)
            future.exception()  # the waiters re-raise it; do not warn "never retrieved"
            raise
        future.set_result(value)
        # The entry stays in flight until the value is stored: a read that missed in the
        # backend just before the store joins this load instead of starting a second one.
        try:
            # An invalidation during the load may mean ``value`` is already stale: don't store.
            if generation == self._invalidated:
                await self._store(full, value)
                self._stores_done += 1
                self._stored[full] = (self._stores_done, future)
                self._stored.move_to_end(full)
                if len(self._stored) > _RECENT_STORES:
                    self._stored.popitem(last=False)
        finally:
            self._forget(full, future)
        return value

    def _forget(self, full: str, future: asyncio.Future[T | None]) -> None:
        if self._inflight.get(full) is future:
            del self._inflight[full]

    async def _store(self, full: str, value: T | None) -> None:
        if value is None and not self.policy.cache_nulls:
            return
        if value is None:
            data, ttl = NULL, self.policy.null_ttl_s
        else:
            data, ttl = VALUE + self._codec.encode(value), self._ttl()
        if not self._backend_up():
            return
        try:
            await self._backend.set(full, data, ttl)
            self.metrics.stores += 1
        except CacheBackendError as exc:
            self._backend_failed(exc)

    def invalidate(self, key: Key) -> bool:
        """Drop the cached entry (synchronous: call it after the database commit).
        False if the cache server could not be told (the entry then lives out its TTL)."""
        self._invalidated += 1
        self.metrics.invalidations += 1
        full = self.key(key)
        # A load in flight or just stored may hold the old value: nobody joins it any more.
        self._inflight.pop(full, None)
        self._stored.pop(full, None)
        try:
            self._backend.delete(full)
        except CacheBackendError as exc:
            self._backend_failed(exc)
            return False
        return True

    def inserted(self, key: Key) -> bool:
        """A new key exists: add it to the guard and drop any cached "not found". False if
        the guard or the cache server could not be told; a guard that missed an insert is
        detached (requests go on to the cache) until it is rebuilt and set again."""
        if self.guard is not None and not self.guard.add(key):
            self.guard = None
        return self.invalidate(key)

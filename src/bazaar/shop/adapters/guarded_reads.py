"""The catalogue read port on :mod:`bazaar.cache`, with the cache-miss-attack defences.

Implements the services' ``CatalogReader`` (async reads) and ``ReadInvalidation`` (called
after commits) for products and room types: cache-aside with a jittered TTL, "not found"
cached for a short TTL, and a Bloom guard of existing ids (loaded from the database on first
use, kept current by ``product_changed``/``room_changed``, which the use cases call after
creating one) that answers 404 for ids that cannot exist without touching the cache or the
database.

With ``redis://`` the guard is one Redis-shared filter for every app process; with
``memory://`` or ``memcached://`` each process keeps its own, which is exact for one process
and, for several, relies on the periodic reload (``guard_reload_s``) to see other processes'
inserts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Engine, Table, select

from bazaar.cache import (
    Backend,
    Cache,
    CacheMetrics,
    CachePolicy,
    KeyGuard,
    LocalGuard,
    MsgpackCodec,
    OrjsonCodec,
    RedisBackend,
    RedisGuard,
    backend_from_url,
)
from bazaar.shop.adapters import schema
from bazaar.shop.domain import NotFound
from bazaar.shop.services.ports import CatalogQueries
from bazaar.shop.services.views import ProductView, RoomView

_RETRY_S = 5.0
#: Ids are 64-bit database integers: a larger one cannot exist (and is no cache key).
_MAX_ID = 2**63 - 1
log = logging.getLogger("bazaar.shop.cache")


def _ids(engine: Engine, table: Table) -> Iterator[int]:
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=10_000).execute(select(table.c.id))
        for (row_id,) in result:
            yield int(row_id)


class GuardedCatalog:
    """Cached, Bloom-guarded product and room reads; invalidation and guard upkeep."""

    def __init__(self, queries: CatalogQueries, engine: Engine, backend: Backend, *,
                 policy: CachePolicy, guard: bool = True, guard_error_rate: float = 0.001,
                 guard_capacity: int = 1_000_000, guard_reload_s: float | None = None,
                 threads: int = 4) -> None:
        self._queries = queries
        # Misses query the database on at most ``threads`` worker threads (as the uncached
        # DirectReader does): a bounded path, so a flood of misses queues here instead of
        # thrashing the GIL and the connection pool.
        self._limiter = anyio.CapacityLimiter(threads)
        self._engine = engine
        self.backend = backend
        self.metrics = {"products": CacheMetrics(), "rooms": CacheMetrics()}
        self._guards: dict[str, KeyGuard] = {}
        if guard:
            for kind in ("products", "rooms"):
                if isinstance(backend, RedisBackend):
                    self._guards[kind] = RedisGuard(backend.sync, f"bazaar:guard:{kind}",
                                                    capacity=guard_capacity,
                                                    error_rate=guard_error_rate)
                else:
                    self._guards[kind] = LocalGuard(100_000, guard_error_rate)
        # The caches get their guards only once the guards hold every id (see _guards_ready).
        # Products are cached as their JSON, the API's representation: a hit is a body to send
        # as it is (cached_product_json), never decoded and encoded again.
        self.products: Cache[ProductView] = Cache(
            backend, OrjsonCodec(lambda d: ProductView(**d)), namespace="product",
            policy=policy, metrics=self.metrics["products"])
        self.rooms: Cache[RoomView] = Cache(
            backend, MsgpackCodec(asdict, lambda d: RoomView(**d)), namespace="room",
            policy=policy, metrics=self.metrics["rooms"])
        self._reload_s = guard_reload_s
        self._loaded_at: float | None = None
        self._next_try = 0.0
        self._load_lock = threading.Lock()

    def load_guards(self) -> None:
        """Read every product and room id into the guards, then let the caches use them
        (blocking: run it in a worker thread)."""
        with self._load_lock:
            for kind, table in (("products", schema.products), ("rooms", schema.rooms)):
                guard = self._guards.get(kind)
                if guard is not None:
                    guard.rebuild(_ids(self._engine, table))
            self.products.guard = self._guards.get("products")
            self.rooms.guard = self._guards.get("rooms")
            self._loaded_at = time.monotonic()

    async def _guards_ready(self) -> None:
        if not self._guards:
            return
        now = time.monotonic()
        detached = self.products.guard is None or self.rooms.guard is None
        stale = self._loaded_at is None or detached or (
            self._reload_s is not None and now - self._loaded_at > self._reload_s)
        if not stale or now < self._next_try:
            return
        try:
            await anyio.to_thread.run_sync(self.load_guards)
        except Exception as exc:  # e.g. Redis down: serve unguarded, try again in a while
            self._next_try = now + _RETRY_S
            log.warning("Bloom guards not loaded, reads go unguarded for %ss: %s",
                        _RETRY_S, exc)

    # --- CatalogReader -------------------------------------------------------------------
    async def product(self, product_id: int) -> ProductView:
        if product_id > _MAX_ID:
            raise NotFound("product", product_id)
        await self._guards_ready()

        async def load() -> ProductView | None:
            return await self._queries.product_async(product_id, self._limiter)

        view = await self.products.get(product_id, load)
        if view is None:
            raise NotFound("product", product_id)
        return view

    def cached_product_json(self, product_id: int) -> bytes | None:
        """The product as JSON if this process's cache holds it now (no coroutine, no
        decoding: the API's hot path sends these bytes as the body); None: ask
        :meth:`product`."""
        return self.products.peek_encoded(product_id)

    async def room(self, room_id: int) -> RoomView:
        if room_id > _MAX_ID:
            raise NotFound("room", room_id)
        await self._guards_ready()

        async def load() -> RoomView | None:
            return await self._queries.room_async(room_id, self._limiter)

        view = await self.rooms.get(room_id, load)
        if view is None:
            raise NotFound("room", room_id)
        return view

    # --- ReadInvalidation ----------------------------------------------------------------
    def product_changed(self, product_id: int) -> None:
        self._changed("products", self.products, product_id)

    def room_changed(self, room_id: int) -> None:
        self._changed("rooms", self.rooms, room_id)

    def _changed(self, kind: str, cache: Cache[Any], key: int) -> None:
        # Straight to the guard, attached or not: a guard being loaded must not miss it.
        guard = self._guards.get(kind)
        if guard is not None and not guard.add(key):
            cache.guard = None  # it missed an id: unguarded until reloaded (_guards_ready)
        cache.invalidate(key)

    def stats(self) -> dict[str, Any]:
        """Counters per kind, for ``GET /cache/stats``."""
        return {"backend": self.backend.name,
                **{kind: m.snapshot() for kind, m in self.metrics.items()}}


def guarded_catalog(queries: CatalogQueries, engine: Engine, *, cache_url: str,
                    policy: CachePolicy, guard: bool = True,
                    guard_reload_s: float | None = None) -> GuardedCatalog:
    """The cached reader for ``cache_url`` (``memory://``, ``redis://…``, ``memcached://…``)."""
    return GuardedCatalog(queries, engine, backend_from_url(cache_url), policy=policy,
                          guard=guard, guard_reload_s=guard_reload_s)

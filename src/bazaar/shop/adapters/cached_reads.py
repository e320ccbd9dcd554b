"""Catalogue reads through ``bazaar.cache`` (cache-aside): the hot ``GET /products/{id}``
answers from the cache without a database query or a thread hop; writers invalidate."""

from __future__ import annotations

from typing import Any

import anyio.to_thread

from bazaar.cache import Backend, Cache, CacheMetrics, CachePolicy, OrjsonCodec
from bazaar.shop.domain import NotFound
from bazaar.shop.services import CatalogQueries, ProductView, RoomView


def _product(plain: Any) -> ProductView:
    return ProductView(**plain)


def _room(plain: Any) -> RoomView:
    return RoomView(**plain)


class CachedCatalog:
    """Implements both ``CatalogReader`` and ``ReadInvalidation`` over one backend."""

    def __init__(self, queries: CatalogQueries, backend: Backend,
                 policy: CachePolicy | None = None) -> None:
        self._queries = queries
        self.metrics = CacheMetrics()
        self._products: Cache[ProductView] = Cache(backend, OrjsonCodec(_product),
                                                   namespace="product", policy=policy,
                                                   metrics=self.metrics)
        self._rooms: Cache[RoomView] = Cache(backend, OrjsonCodec(_room), namespace="room",
                                             policy=policy, metrics=self.metrics)

    async def product(self, product_id: int) -> ProductView:
        async def load() -> ProductView | None:
            return await anyio.to_thread.run_sync(self._queries.product, product_id)

        found = await self._products.get(product_id, load)
        if found is None:
            raise NotFound("product", product_id)
        return found

    async def room(self, room_id: int) -> RoomView:
        async def load() -> RoomView | None:
            return await anyio.to_thread.run_sync(self._queries.room, room_id)

        found = await self._rooms.get(room_id, load)
        if found is None:
            raise NotFound("room", room_id)
        return found

    def product_changed(self, product_id: int) -> None:
        self._products.invalidate(product_id)

    def room_changed(self, room_id: int) -> None:
        self._rooms.invalidate(room_id)

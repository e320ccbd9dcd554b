"""The read path, behind a port so a cache can drop in at the composition root.

``CatalogReader`` is async: the API awaits it on the event loop, so a cache hit costs no
thread hop. The default, :class:`DirectReader`, runs the SQL query (a point read on the loop
where the database allows, else in a worker thread).
Writers tell a :class:`ReadInvalidation` what changed after they commit.
"""

from __future__ import annotations

from typing import Protocol

import anyio

from bazaar.shop.domain import NotFound
from bazaar.shop.services.ports import CatalogQueries
from bazaar.shop.services.views import ProductView, RoomView


class CatalogReader(Protocol):
    async def product(self, product_id: int) -> ProductView:
        """The product, or raise ``NotFound``."""
        ...

    async def room(self, room_id: int) -> RoomView:
        """The room type, or raise ``NotFound``."""
        ...


class ReadInvalidation(Protocol):
    """Called after a commit that changed what a reader may have cached."""

    def product_changed(self, product_id: int) -> None: ...
    def room_changed(self, room_id: int) -> None: ...


class DirectReader:
    """No cache: every read is a query (on the event loop where the queries can, else in a
    worker thread, at most ``threads`` at once)."""

    def __init__(self, queries: CatalogQueries, threads: int = 4) -> None:
        self._queries = queries
        self._limiter = anyio.CapacityLimiter(threads)

    async def product(self, product_id: int) -> ProductView:
        view = await self._queries.product_async(product_id, self._limiter)
        if view is None:
            raise NotFound("product", product_id)
        return view

    async def room(self, room_id: int) -> RoomView:
        view = await self._queries.room_async(room_id, self._limiter)
        if view is None:
            raise NotFound("room", room_id)
        return view


class NoInvalidation:
    """Nothing is cached, so nothing needs dropping."""

    def product_changed(self, product_id: int) -> None:
        return None

    def room_changed(self, room_id: int) -> None:
        return None

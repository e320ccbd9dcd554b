"""The read side: Core queries straight to views, no domain objects, no unit of work."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import ARRAY, BigInteger, and_, any_, bindparam, func, select

from bazaar.shop.adapters import schema
from bazaar.shop.adapters.errors import translated
from bazaar.shop.domain import stay_nights
from bazaar.shop.services import ProductFilter, ProductView, RoomAvailability, RoomView
from bazaar.storage import Busy, Connectable, point_reader

_V = TypeVar("_V")

_p, _r, _n = schema.products, schema.rooms, schema.room_nights
_PRODUCT_COLUMNS = (_p.c.id, _p.c.sku, _p.c.name, _p.c.price_cents, _p.c.stock)
_ROOM_COLUMNS = (_r.c.id, _r.c.code, _r.c.name, _r.c.price_cents, _r.c.count)
#: The point reads, built once: the loop path compiles each once per dialect. The id is bound
#: as a 64-bit integer (any id the API accepts; PostgreSQL would refuse one past int4 cast to
#: the column's type, where int4 = int8 simply finds nothing).
_PRODUCT_BY_ID = select(*_PRODUCT_COLUMNS).where(_p.c.id == bindparam("id", type_=BigInteger))
_ROOM_BY_ID = select(*_ROOM_COLUMNS).where(_r.c.id == bindparam("id", type_=BigInteger))
#: Many at once (PostgreSQL's loop path batches the reads that arrive together).
_IDS = bindparam("ids", type_=ARRAY(BigInteger))
_PRODUCTS_BY_IDS = select(*_PRODUCT_COLUMNS).where(_p.c.id == any_(_IDS))
_ROOMS_BY_IDS = select(*_ROOM_COLUMNS).where(_r.c.id == any_(_IDS))


def _product(row: Any) -> ProductView:
    return ProductView(row[0], row[1], row[2], row[3], row[4])


def _room(row: Any) -> RoomView:
    return RoomView(row[0], row[1], row[2], row[3], row[4])


class SqlCatalogQueries:
    """Implements ``CatalogQueries``; each call is its own short read, on an engine or on
    a ``ReadRouter`` (which sends it to a standby).

    ``product_async``/``room_async`` (the API's point reads) run on the event loop through
    ``bazaar.storage.point_reader`` when the engine is a plain SQLite or PostgreSQL one
    (``loop_reads``, default on), and in a worker thread otherwise or when the loop path
    cannot answer at once (a lock, a lost connection): the threaded path then waits or
    reports the error as it always did."""

    def __init__(self, engine: Connectable, *, loop_reads: bool = True) -> None:
        self._engine = engine
        self._loop = point_reader(engine) if loop_reads else None

    def close(self) -> None:
        """Close the event-loop connections of this process (the engine is the caller's)."""
        if self._loop is not None:
            self._loop.close()

    def product(self, product_id: int) -> ProductView | None:
        with translated(), self._engine.connect() as conn:
            row = conn.execute(_PRODUCT_BY_ID, {"id": product_id}).first()
        return None if row is None else _product(row)

    async def product_async(self, product_id: int,
                            limiter: anyio.CapacityLimiter) -> ProductView | None:
        return await self._by_id(_PRODUCT_BY_ID, _PRODUCTS_BY_IDS, product_id, _product,
                                 self.product, limiter)

    async def room_async(self, room_id: int,
                         limiter: anyio.CapacityLimiter) -> RoomView | None:
        return await self._by_id(_ROOM_BY_ID, _ROOMS_BY_IDS, room_id, _room, self.room,
                                 limiter)

    async def _by_id(self, one: Any, many: Any, row_id: int, convert: Callable[[Any], _V],
                     threaded: Callable[[int], _V | None],
                     limiter: anyio.CapacityLimiter) -> _V | None:
        """One row by id on the event loop; when the loop's reader is busy (the SQLite file
        is locked) or absent, the threaded path, which waits as before."""
        if self._loop is not None:
            with contextlib.suppress(Busy):
                row = await self._loop.by_id(one, many, row_id)
                return None if row is None else convert(row)
        return await anyio.to_thread.run_sync(threaded, row_id, limiter=limiter)

    def products(self, flt: ProductFilter, after: int, limit: int) -> list[ProductView]:
        query = select(*_PRODUCT_COLUMNS).where(_p.c.id > after)
        if flt.q:
            escaped = flt.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(_p.c.name).like(f"%{escaped}%", escape="\\"))
        if flt.min_price_cents is not None:
            query = query.where(_p.c.price_cents >= flt.min_price_cents)
        if flt.max_price_cents is not None:
            query = query.where(_p.c.price_cents <= flt.max_price_cents)
        if flt.in_stock is True:
            query = query.where(_p.c.stock > 0)
        elif flt.in_stock is False:
            query = query.where(_p.c.stock == 0)
        with translated(), self._engine.connect() as conn:
            rows = conn.execute(query.order_by(_p.c.id).limit(limit)).all()
        return [_product(row) for row in rows]

    def products_by_id(self, product_ids: Sequence[int]) -> list[ProductView]:
        if not product_ids:
            return []
        query = select(*_PRODUCT_COLUMNS).where(_p.c.id.in_(sorted(set(product_ids))))
        with translated(), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_product(row) for row in rows]

    def room(self, room_id: int) -> RoomView | None:
        with translated(), self._engine.connect() as conn:
            row = conn.execute(_ROOM_BY_ID, {"id": room_id}).first()
        return None if row is None else _room(row)

    def rooms_available(self, check_in: date, check_out: date,
                        rooms: int) -> list[RoomAvailability]:
        nights = stay_nights(check_in, check_out)
        free = func.min(_n.c.total - _n.c.reserved).label("free")
        query = (select(*_ROOM_COLUMNS, free)
                 .join(_n, _n.c.room_id == _r.c.id)
                 .where(and_(_n.c.night >= check_in, _n.c.night < check_out))
                 .group_by(*_ROOM_COLUMNS)
                 .having(and_(func.count() == len(nights), free >= rooms))
                 .order_by(_r.c.price_cents, _r.c.id))
        with translated(), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [RoomAvailability(RoomView(*row[:5]), int(row[5]), len(nights),
                                 row[3] * len(nights) * rooms) for row in rows]

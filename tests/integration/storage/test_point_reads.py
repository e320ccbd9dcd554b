"""Point reads on the event loop (``bazaar.storage.point_reader``) as the shop's read side
uses them: the same answers as the threaded query, every commit seen at once, and the
threaded path (with its errors) whenever the loop path cannot answer."""

from __future__ import annotations

import asyncio

import anyio
import pytest
from sqlalchemy import Engine, update

from bazaar import storage
from bazaar.processes import free_port
from bazaar.shop.adapters import SqlCatalogQueries, schema
from bazaar.shop.domain import Unavailable
from bazaar.storage import ReadRouter, point_reader


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(schema.products.insert(), [
            {"sku": "MUG-1", "name": "Mug", "price_cents": 1200, "stock": 4, "version": 1},
            {"sku": "TEA-1", "name": "Tea", "price_cents": 500, "stock": 0, "version": 1}])
        conn.execute(schema.rooms.insert(), [
            {"code": "DBL", "name": "Double", "price_cents": 9000, "count": 3, "version": 1}])


def test_loop_reads_answer_as_the_threaded_query_and_see_every_commit(engine: Engine) -> None:
    _seed(engine)
    queries = SqlCatalogQueries(engine)
    assert queries._loop is not None  # a plain SQLite or PostgreSQL engine: the loop path
    limiter = anyio.CapacityLimiter(1)

    async def scenario() -> None:
        for product_id in (1, 2, 999, 2**63 - 1):
            assert await queries.product_async(product_id, limiter) == queries.product(
                product_id)
        assert await queries.room_async(1, limiter) == queries.room(1)
        assert await queries.room_async(7, limiter) is None
        for stock in (9, 10, 11):  # each commit, made on another connection, is seen next
            with engine.begin() as conn:
                conn.execute(update(schema.products).where(schema.products.c.id == 1)
                             .values(stock=stock))
            view = await queries.product_async(1, limiter)
            assert view is not None and view.stock == stock
        # Many at once on one loop (PostgreSQL: more than its connections per loop).
        views = await asyncio.gather(*[queries.product_async(1 + i % 2, limiter)
                                       for i in range(50)])
        assert {v.sku for v in views if v is not None} == {"MUG-1", "TEA-1"}

    asyncio.run(scenario())
    asyncio.run(scenario())  # a second event loop gets connections of its own
    queries.close()


def test_an_unreachable_database_is_unavailable_not_a_crash() -> None:
    engine = storage.make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x",
                                 storage.EngineOptions(connect_timeout_s=1))
    queries = SqlCatalogQueries(engine)

    async def read() -> None:
        await queries.product_async(1, anyio.CapacityLimiter(1))

    with pytest.raises(Unavailable):  # the loop path gives up, the threaded one reports it
        asyncio.run(read())
    engine.dispose()


def test_a_read_router_keeps_its_per_read_choice(engine: Engine) -> None:
    assert point_reader(ReadRouter(engine, [])) is None
    assert point_reader(object()) is None
    assert SqlCatalogQueries(engine, loop_reads=False)._loop is None

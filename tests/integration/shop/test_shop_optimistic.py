"""The optimistic strategy's version check itself, on SQLite as well as PostgreSQL.

Inside one transaction SQLite's snapshot refuses a stale write before the version check is
reached ("database is locked"), so the racing tests cannot tell whether the check works
there. Here the read and the write are in different transactions — the shape of a long
conversation, or of a future caller that caches what it read — so the ``version`` predicate
is all that stands between two writers, on both databases.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text

from bazaar.shop.adapters import SqlUnitsOfWork, schema
from bazaar.shop.domain import LineRequest, Order, RetryableConflict
from bazaar.shop.services import catalog, orders, users

from .conftest import ShopFactory


def _stock(engine: Engine, product_id: int) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(schema.products.c.stock)
                               .where(schema.products.c.id == product_id)) or 0)


def test_a_write_from_a_stale_read_of_stock_is_refused(
        make_shop: ShopFactory, engine: Engine) -> None:
    shop = make_shop("optimistic")
    pid = catalog.create_product(shop, "PEN-1", "Pen", 100, 5).id
    uow = SqlUnitsOfWork(engine, "optimistic")
    with pytest.raises(RetryableConflict), uow() as work:
        seen = work.products.get(pid)
        assert seen is not None and seen.stock == 5
        work.commit()  # the read's transaction ends; the loaded product is kept
        with engine.begin() as rival:  # another buyer takes 2 meanwhile
            rival.execute(text("UPDATE products SET stock = stock - 2, version = version + 1 "
                               "WHERE id = :id"), {"id": pid})
        work.stock.take_stock(pid, 1)  # would write stock = 4 over the rival's 3
    assert _stock(engine, pid) == 3  # the rival's sale stands; nothing was overwritten


def test_a_cancel_from_a_stale_read_of_the_order_returns_nothing_twice(
        make_shop: ShopFactory, engine: Engine) -> None:
    shop = make_shop("optimistic")
    uid = users.register(shop, "alice", "", "correct horse").id
    pid = catalog.create_product(shop, "PEN-1", "Pen", 100, 5).id
    oid = orders.place_order(shop, uid, [LineRequest(pid, 2)]).order.id
    uow = SqlUnitsOfWork(engine, "optimistic")
    with pytest.raises(RetryableConflict), uow() as work:
        stale = work.orders.get(oid)
        assert isinstance(stale, Order) and str(stale.status) == "placed"
        work.commit()
        orders.cancel_order(shop, uid, oid)  # the first cancel wins and returns 2 units
        assert _stock(engine, pid) == 5
        stale.cancel()  # still "placed" in this stale copy
        for line in stale.lines:
            work.stock.put_stock(line.product_id, line.quantity)
        work.commit()
    assert _stock(engine, pid) == 5  # returned once, not 7
    assert orders.get_order(shop, uid, oid).status == "cancelled"

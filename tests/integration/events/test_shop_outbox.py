"""The shop records its analytics events in the transaction of the change: an order placed,
paid or cancelled, a stock level, a sign-up land in the outbox exactly when the change
commits (a refused order leaves nothing), with unique ids, in the shape the pipeline reads."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from tests.support.shop import sqlite_shop

from bazaar import pipeline
from bazaar.shop.adapters import schema
from bazaar.shop.adapters.events import BufferedViews
from bazaar.shop.domain import LineRequest, SoldOut, StateConflict
from bazaar.shop.services import Shop, catalog, checkout, orders, users
from bazaar.shop.services.events import SCHEMA_VERSION, TYPES


def _events(shop: Shop) -> list[dict[str, object]]:
    with shop.uow() as uow:
        rows = uow.session.execute(  # type: ignore[attr-defined]
            sa.select(schema.outbox.c.topic, schema.outbox.c.payload, schema.outbox.c.event_id)
            .order_by(schema.outbox.c.seq)).all()
    for topic, payload, event_id in rows:
        assert topic == "shop.events"
        assert orjson.loads(payload)["event_id"] == event_id
    return [orjson.loads(r.payload) for r in rows]


@pytest.fixture(params=["atomic", "optimistic", "pessimistic"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Shop:
    return sqlite_shop(tmp_path / "shop.db", request.param)


def test_each_change_commits_its_events_and_a_refused_one_none(shop: Shop) -> None:
    ann = users.register(shop, "ann", "Ann", "correct horse battery")
    p1 = catalog.create_product(shop, "SKU-1", "One", 250, 10)
    p2 = catalog.create_product(shop, "SKU-2", "Two", 1000, 3)
    placed = orders.place_order(shop, ann.id, [LineRequest(p1.id, 2), LineRequest(p2.id, 1)])
    before = len(_events(shop))
    with pytest.raises(SoldOut):  # rolled back: its events with it
        orders.place_order(shop, ann.id, [LineRequest(p1.id, 1), LineRequest(p2.id, 5)])
    assert len(_events(shop)) == before
    orders.cancel_order(shop, ann.id, placed.order.id)
    with pytest.raises(StateConflict):  # a second cancel changes nothing, announces nothing
        orders.cancel_order(shop, ann.id, placed.order.id)
    catalog.restock(shop, p2.id, 4)
    events = _events(shop)
    kinds = [(e["type"], e.get("product_id"), e.get("stock"), e.get("quantity"))
             for e in events]
    assert kinds == [
        ("user_signed_up", None, None, None),
        ("stock_changed", p1.id, 10, None), ("stock_changed", p2.id, 3, None),
        ("order_placed", p1.id, None, 2), ("order_placed", p2.id, None, 1),
        ("stock_changed", p1.id, 8, None), ("stock_changed", p2.id, 2, None),
        ("order_cancelled", None, None, None),
        ("stock_changed", p1.id, 10, None), ("stock_changed", p2.id, 3, None),
        ("stock_changed", p2.id, 7, None)]
    assert len({e["event_id"] for e in events}) == len(events)
    assert {e["v"] for e in events} == {SCHEMA_VERSION}
    lines = [e for e in events if e["type"] == "order_placed"]
    assert [(e["order_id"], e["customer_id"], e["price_cents"]) for e in lines] == [
        (str(placed.order.id), str(ann.id), 250), (str(placed.order.id), str(ann.id), 1000)]


def test_a_checkout_that_ships_is_paid_once_and_one_that_fails_is_cancelled(shop: Shop) -> None:
    ann = users.register(shop, "ann", "Ann", "correct horse battery")
    p = catalog.create_product(shop, "SKU-1", "One", 250, 10)
    paid = orders.place_order(shop, ann.id, [LineRequest(p.id, 1)]).order.id
    failed = orders.place_order(shop, ann.id, [LineRequest(p.id, 2)]).order.id
    for oid in (paid, failed):
        with shop.uow() as uow:
            order = uow.orders.get(oid)
            assert order is not None
            order.begin_checkout()
            uow.commit()
        checkout.reserve_stock(shop, oid)
    checkout.fulfil_stock(shop, paid)
    checkout.fulfil_stock(shop, paid)  # the saga retries: paid once
    checkout.close_checkout(shop, paid, "completed")
    checkout.close_checkout(shop, failed, "failed", "card declined")
    checkout.close_checkout(shop, failed, "failed", "card declined")
    events = _events(shop)
    assert [(e["type"], e["order_id"]) for e in events
            if e["type"] in ("order_paid", "order_cancelled")] == [
        ("order_paid", str(paid)), ("order_cancelled", str(failed))]
    assert [e["price_cents"] for e in events if e["type"] == "order_paid"] == [250]
    assert events[-1] == {**events[-1], "type": "stock_changed", "stock": 9}


def test_views_wait_in_memory_and_land_in_one_transaction(shop: Shop) -> None:
    p = catalog.create_product(shop, "SKU-1", "One", 250, 10)
    views = shop.views
    assert isinstance(views, BufferedViews)
    for who in (1, 1, None):
        views.viewed(p.id, who)
    assert [e["type"] for e in _events(shop)] == ["stock_changed"]  # nothing written yet
    assert views.drain() == 3
    assert views.drain() == 0
    seen = [e for e in _events(shop) if e["type"] == "product_viewed"]
    assert [(e["product_id"], e["customer_id"]) for e in seen] == [(p.id, "1"), (p.id, "1"),
                                                                   (p.id, None)]


def test_a_full_buffer_drops_the_oldest_views_and_counts_them(tmp_path: Path) -> None:
    shop = sqlite_shop(tmp_path / "shop.db")
    views = BufferedViews(shop.uow, capacity=3)
    for pid in range(1, 6):
        views.viewed(pid, None)
    assert (views.recorded, views.dropped) == (5, 2)


def test_every_shop_event_is_one_the_pipeline_keeps(shop: Shop) -> None:
    """The shop's shape is the pipeline's: each type is known to its cleaning, and the
    decoded row carries the fields (the fast batch path and the one-record path agree)."""
    assert set(TYPES) <= set(pipeline.KNOWN_TYPES)
    ann = users.register(shop, "ann", "Ann", "correct horse battery")
    p = catalog.create_product(shop, "SKU-1", "One", 250, 10)
    orders.place_order(shop, ann.id, [LineRequest(p.id, 3)])
    with shop.uow() as uow:
        values = uow.session.scalars(  # type: ignore[attr-defined]
            sa.select(schema.outbox.c.payload).order_by(schema.outbox.c.seq)).all()
    table = pipeline.decode_batch("shop.events", 0, list(range(len(values))), values,
                                  [0] * len(values))
    one = [pipeline.decode(pipeline.Record("shop.events", 0, i, v, 0))
           for i, v in enumerate(values)]
    assert table.to_pylist() == [
        {**r, "at": table.column("at")[i].as_py()} for i, r in enumerate(one)]
    line = [r for r in one if r["type"] == "order_placed"]
    assert [(r["customer_id"], r["product_id"], r["quantity"], r["price_cents"])
            for r in line] == [(str(ann.id), p.id, 3, 250)]

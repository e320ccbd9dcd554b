"""The use cases on real databases (SQLite file and PostgreSQL), under each strategy."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, select

from bazaar.shop.adapters import STRATEGIES, Strategy, schema
from bazaar.shop.domain import (
    IdempotencyKeyReused,
    InvalidInput,
    LineRequest,
    NotFound,
    SoldOut,
    StateConflict,
)
from bazaar.shop.services import ProductFilter, Shop, bookings, catalog, orders, users

from .conftest import ShopFactory


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


def _user(shop: Shop, name: str = "alice") -> int:
    return users.register(shop, name, "", "correct horse").id


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_order_is_all_or_nothing_and_cancel_returns_stock(
        make_shop: ShopFactory, engine: Engine, strategy: Strategy) -> None:
    shop = make_shop(strategy)
    uid = _user(shop)
    a = catalog.create_product(shop, "A-1", "Apple", 100, 5)
    b = catalog.create_product(shop, "B-1", "Bread", 250, 1)
    with pytest.raises(SoldOut) as info:
        orders.place_order(shop, uid, [LineRequest(a.id, 2), LineRequest(b.id, 2)])
    assert (info.value.requested, info.value.available) == (2, 1)
    with pytest.raises(NotFound):
        orders.place_order(shop, uid, [LineRequest(a.id, 1), LineRequest(999, 1)])
    assert shop.queries.product(a.id).stock == 5  # type: ignore[union-attr]
    assert _count(engine, schema.orders) == 0

    placed = orders.place_order(shop, uid, [LineRequest(a.id, 2), LineRequest(b.id, 1)])
    assert placed.order.total_cents == 450 and not placed.replayed
    assert shop.queries.product(a.id).stock == 3  # type: ignore[union-attr]
    assert orders.get_order(shop, uid, placed.order.id) == placed.order
    cancelled = orders.cancel_order(shop, uid, placed.order.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(StateConflict):
        orders.cancel_order(shop, uid, placed.order.id)
    assert shop.queries.product(a.id).stock == 5  # type: ignore[union-attr]
    assert shop.queries.product(b.id).stock == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_idempotency_key_orders_once_even_when_racing(
        make_shop: ShopFactory, engine: Engine, strategy: Strategy) -> None:
    shop = make_shop(strategy)
    uid = _user(shop)
    p = catalog.create_product(shop, "P-1", "Pen", 100, 3)
    first = orders.place_order(shop, uid, [LineRequest(p.id, 1)], "key-1")
    again = orders.place_order(shop, uid, [LineRequest(p.id, 1)], "key-1")
    assert again.replayed and again.order == first.order
    with pytest.raises(IdempotencyKeyReused):
        orders.place_order(shop, uid, [LineRequest(p.id, 2)], "key-1")
    with pytest.raises(InvalidInput):
        orders.place_order(shop, uid, [LineRequest(p.id, 1)], "")

    # Eight requests with one new key race: one order, everyone gets it.
    results: list[object] = []
    barrier = threading.Barrier(8)

    def racer() -> None:
        barrier.wait()
        try:
            results.append(orders.place_order(shop, uid, [LineRequest(p.id, 2)], "key-2"))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    order_ids = {r.order.id for r in results}  # type: ignore[attr-defined]
    assert len(order_ids) == 1, results
    assert sum(not r.replayed for r in results) == 1  # type: ignore[attr-defined]
    assert _count(engine, schema.orders) == 2
    assert shop.queries.product(p.id).stock == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_racing_cancels_return_stock_once(make_shop: ShopFactory, strategy: Strategy) -> None:
    shop = make_shop(strategy)
    uid = _user(shop)
    p = catalog.create_product(shop, "P-1", "Pen", 100, 10)
    placed = orders.place_order(shop, uid, [LineRequest(p.id, 4)])
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def cancel() -> None:
        barrier.wait()
        try:
            orders.cancel_order(shop, uid, placed.order.id)
            outcomes.append("ok")
        except StateConflict:
            outcomes.append("already")

    threads = [threading.Thread(target=cancel) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["already"] * 5 + ["ok"]
    assert shop.queries.product(p.id).stock == 10  # type: ignore[union-attr]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rooms_never_double_booked_and_cancel_frees(
        make_shop: ShopFactory, strategy: Strategy) -> None:
    shop = make_shop(strategy)
    uid = _user(shop)
    start = date(2030, 6, 1)
    room = catalog.create_room(shop, "STE", "Suite", 30000, 2, first_night=start,
                               horizon_days=10)
    one = bookings.reserve_room(shop, uid, room.id, start, start + timedelta(days=3), 2)
    assert one.price_cents == 30000 * 2 * 3
    with pytest.raises(SoldOut):  # overlaps one night only
        bookings.reserve_room(shop, uid, room.id, start + timedelta(days=2),
                              start + timedelta(days=4), 1)
    with pytest.raises(InvalidInput, match=r"nights 2030-06-01 to 2030-06-10 \(its booking "
                                           r"horizon\)"):  # past it: not "sold out" (issue 10)
        bookings.reserve_room(shop, uid, room.id, start + timedelta(days=9),
                              start + timedelta(days=12), 1)
    with pytest.raises(NotFound):
        bookings.reserve_room(shop, uid, 999, start, start + timedelta(days=1), 1)
    free = catalog.search_rooms(shop, start + timedelta(days=3), start + timedelta(days=5))
    assert [a.available for a in free] == [2]
    assert catalog.search_rooms(shop, start, start + timedelta(days=5)) == []
    bookings.cancel_reservation(shop, uid, one.id)
    assert catalog.search_rooms(shop, start, start + timedelta(days=5))[0].available == 2
    other = users.register(shop, "bob", "", "correct horse").id
    with pytest.raises(NotFound):  # someone else's reservation is invisible
        bookings.get_reservation(shop, other, one.id)


def test_users_register_lookup_and_rehash(make_shop: ShopFactory) -> None:
    shop = make_shop("atomic")
    alice = users.register(shop, "alice", "Alice A.", "correct horse")
    with pytest.raises(StateConflict):
        users.register(shop, "alice", "", "another password")
    found = users.credentials(shop, "alice")
    assert found is not None and found.user_id == alice.id
    assert found.password_hash.startswith("$argon2id$")
    assert "correct horse" not in found.password_hash and "$argon2" not in repr(found)
    users.set_password_hash(shop, alice.id, "$argon2id$new")
    assert users.credentials(shop, "alice").password_hash == "$argon2id$new"  # type: ignore[union-attr]
    assert users.credentials(shop, "nobody") is None
    with pytest.raises(NotFound):
        users.set_password_hash(shop, 999, "x")
    assert users.profile(shop, alice.id).display_name == "Alice A."


def test_browse_filters_and_pages(make_shop: ShopFactory) -> None:
    shop = make_shop("atomic")
    for i in range(7):
        catalog.create_product(shop, f"T-{i}", f"Tea {i}% strong", 100 * i, i % 2)
    catalog.create_product(shop, "MUG", "Mug", 500, 3)
    with pytest.raises(StateConflict):
        catalog.create_product(shop, "MUG", "Other mug", 500, 3)
    page = catalog.list_products(shop, ProductFilter(q="TEA"), 0, 3)
    assert [p.sku for p in page.items] == ["T-0", "T-1", "T-2"] and page.next_after
    rest = catalog.list_products(shop, ProductFilter(q="tea"), page.next_after, 10)
    assert len(rest.items) == 4 and rest.next_after is None
    assert [p.sku for p in catalog.list_products(
        shop, ProductFilter(q="4%"), 0, 10).items] == ["T-4"]
    cheap_in_stock = catalog.list_products(
        shop, ProductFilter(max_price_cents=300, in_stock=True), 0, 10)
    assert [p.sku for p in cheap_in_stock.items] == ["T-1", "T-3"]
    with pytest.raises(InvalidInput) as info:
        catalog.list_products(shop, ProductFilter(), 0, 1000)
    assert info.value.field == "limit"
    restocked = catalog.restock(shop, page.items[0].id, 5)
    assert restocked.stock == 5
    with pytest.raises(NotFound):
        catalog.restock(shop, 999, 1)

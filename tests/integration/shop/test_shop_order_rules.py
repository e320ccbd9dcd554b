"""The order use cases' own rules, on a SQLite shop wired as production wires it (read cache
included): which keys are accepted, what a replay must match, whose orders a user sees and in
what pages, what an order view carries, and that a cached read never shows stock from before
an order or a cancel. Found by ``./dev mutate orders`` (docs/testing.md); the racing, owner
and all-strategy tests live in ``test_shop_services.py`` and ``test_shop_api_rules.py``.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from sqlalchemy import func, select
from tests.support.shop import sqlite_shop

from bazaar.shop.adapters import schema
from bazaar.shop.domain import (
    IdempotencyKeyReused,
    InvalidInput,
    LineRequest,
    NotFound,
    StateConflict,
)
from bazaar.shop.services import Shop, catalog, orders, users
from bazaar.shop.services.orders import MAX_KEY_LENGTH, request_hash
from bazaar.shop.services.views import LineView


def _orders_stored(shop: Shop) -> int:
    with shop.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(schema.orders)) or 0)


def _cached_stock(shop: Shop, product_id: int) -> int:
    return anyio.run(shop.catalog_reader.product, product_id).stock


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    return sqlite_shop(tmp_path / "shop.db", "atomic")


def test_keys_are_1_to_255_printable_ascii_and_a_refused_key_orders_nothing(
        shop: Shop) -> None:
    uid = users.register(shop, "alice", "", "correct horse").id
    pen = catalog.create_product(shop, "PEN-1", "Pen", 150, 10).id
    for bad in ("", "k" * (MAX_KEY_LENGTH + 1), "clé", "tab\there", "new\nline"):
        with pytest.raises(InvalidInput) as info:
            orders.place_order(shop, uid, [LineRequest(pen, 1)], bad)
        assert info.value.field == "Idempotency-Key", bad
    assert _orders_stored(shop) == 0 and shop.queries.product(pen).stock == 10  # type: ignore[union-attr]
    for good in ("k", "k" * MAX_KEY_LENGTH, "~ !"):
        assert not orders.place_order(shop, uid, [LineRequest(pen, 1)], good).replayed
    assert shop.queries.product(pen).stock == 7  # type: ignore[union-attr]


def test_a_replay_is_the_same_basket_in_any_order_and_only_that(shop: Shop) -> None:
    uid = users.register(shop, "alice", "", "correct horse").id
    pen = catalog.create_product(shop, "PEN-1", "Pen", 150, 10).id
    ink = catalog.create_product(shop, "INK-1", "Ink", 400, 10).id
    first = orders.place_order(shop, uid, [LineRequest(pen, 1), LineRequest(ink, 2)], "k")
    # The same basket, lines reordered or split: the stored order, nothing taken again.
    for same in ([LineRequest(ink, 2), LineRequest(pen, 1)],
                 [LineRequest(ink, 1), LineRequest(pen, 1), LineRequest(ink, 1)]):
        again = orders.place_order(shop, uid, same, "k")
        assert again.replayed and again.order == first.order
    # Another quantity, another product, a line fewer: a different request under the key.
    for other in ([LineRequest(pen, 2), LineRequest(ink, 2)],
                  [LineRequest(pen, 1), LineRequest(ink + 1, 2)],
                  [LineRequest(pen, 1)]):
        with pytest.raises(IdempotencyKeyReused) as reused:
            orders.place_order(shop, uid, other, "k")
        assert reused.value.key == "k"
    assert request_hash([LineRequest(pen, 1)]) != request_hash([LineRequest(pen, 2)])
    assert request_hash([LineRequest(1, 23)]) != request_hash([LineRequest(12, 3)])
    assert _orders_stored(shop) == 1
    assert (shop.queries.product(pen).stock, shop.queries.product(ink).stock) == (9, 8)  # type: ignore[union-attr]


def test_an_order_view_carries_the_lines_prices_and_owner(shop: Shop) -> None:
    uid = users.register(shop, "alice", "", "correct horse").id
    pen = catalog.create_product(shop, "PEN-1", "Pen", 150, 10).id
    ink = catalog.create_product(shop, "INK-1", "Ink", 400, 10).id
    placed = orders.place_order(shop, uid, [LineRequest(ink, 2), LineRequest(pen, 3)])
    view = placed.order
    assert (view.user_id, view.status, view.total_cents) == (uid, "placed", 3 * 150 + 2 * 400)
    assert view.lines == (LineView(pen, 3, 150), LineView(ink, 2, 400))
    assert orders.get_order(shop, uid, view.id) == view
    assert orders.list_orders(shop, uid).items == (view,)
    cancelled = orders.cancel_order(shop, uid, view.id)
    assert (cancelled.id, cancelled.status, cancelled.lines) == (view.id, "cancelled",
                                                                 view.lines)
    assert orders.get_order(shop, uid, view.id).status == "cancelled"


def test_a_user_sees_and_cancels_only_their_own_orders(shop: Shop) -> None:
    alice = users.register(shop, "alice", "", "correct horse").id
    bob = users.register(shop, "bob", "", "correct horse").id
    pen = catalog.create_product(shop, "PEN-1", "Pen", 150, 10).id
    order = orders.place_order(shop, alice, [LineRequest(pen, 4)]).order
    for call in (orders.get_order, orders.cancel_order):
        with pytest.raises(NotFound) as info:
            call(shop, bob, order.id)
        assert (info.value.kind, info.value.key) == ("order", order.id)
    with pytest.raises(NotFound):
        orders.cancel_order(shop, alice, order.id + 1)
    assert orders.list_orders(shop, bob).items == ()
    assert orders.get_order(shop, alice, order.id).status == "placed"
    assert shop.queries.product(pen).stock == 6  # type: ignore[union-attr]
    orders.cancel_order(shop, alice, order.id)
    with pytest.raises(StateConflict):
        orders.cancel_order(shop, alice, order.id)
    assert shop.queries.product(pen).stock == 10  # type: ignore[union-attr]


def test_orders_are_listed_in_pages_that_end_exactly(shop: Shop) -> None:
    alice = users.register(shop, "alice", "", "correct horse").id
    bob = users.register(shop, "bob", "", "correct horse").id
    pen = catalog.create_product(shop, "PEN-1", "Pen", 150, 100).id
    mine = []
    for i in range(5):
        mine.append(orders.place_order(shop, alice, [LineRequest(pen, 1)]).order.id)
        if i % 2:
            orders.place_order(shop, bob, [LineRequest(pen, 1)])
    first = orders.list_orders(shop, alice, 0, 2)
    assert [o.id for o in first.items] == mine[:2] and first.next_after == mine[1]
    second = orders.list_orders(shop, alice, first.next_after, 2)
    assert [o.id for o in second.items] == mine[2:4] and second.next_after == mine[3]
    last = orders.list_orders(shop, alice, second.next_after, 2)
    assert [o.id for o in last.items] == mine[4:] and last.next_after is None
    # A page that holds exactly what is left is the last one too.
    exact = orders.list_orders(shop, alice, mine[2], 2)
    assert [o.id for o in exact.items] == mine[3:] and exact.next_after is None
    three = orders.list_orders(shop, alice, 0, 3)
    assert [o.id for o in three.items] == mine[:3] and three.next_after == mine[2]
    assert [o.id for o in orders.list_orders(shop, alice).items] == mine
    with pytest.raises(InvalidInput):
        orders.list_orders(shop, alice, 0, 0)


def test_a_cached_product_read_follows_every_order_and_cancel(shop: Shop) -> None:
    uid = users.register(shop, "alice", "", "correct horse").id
    pen = catalog.create_product(shop, "PEN-1", "Pen", 150, 10).id
    ink = catalog.create_product(shop, "INK-1", "Ink", 400, 10).id
    assert (_cached_stock(shop, pen), _cached_stock(shop, ink)) == (10, 10)  # now cached
    placed = orders.place_order(shop, uid, [LineRequest(pen, 3), LineRequest(ink, 1)], "k")
    assert (_cached_stock(shop, pen), _cached_stock(shop, ink)) == (7, 9)
    orders.cancel_order(shop, uid, placed.order.id)
    assert (_cached_stock(shop, pen), _cached_stock(shop, ink)) == (10, 10)

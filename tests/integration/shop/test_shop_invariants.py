"""Property: any sequence of orders, cancels and restocks keeps stock + units on live orders
equal to what was ever stocked, and never below zero (hypothesis, on a real SQLite file)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.shop import sqlite_shop

from bazaar.shop.domain import LineRequest, SoldOut, StateConflict
from bazaar.shop.services import Shop, catalog, orders, users

_skus = itertools.count()

Op = tuple[str, int]
ops = st.lists(st.one_of(st.tuples(st.just("order"), st.integers(1, 6)),
                         st.tuples(st.just("cancel"), st.integers(0, 20)),
                         st.tuples(st.just("restock"), st.integers(1, 4))), max_size=25)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    path: Path = tmp_path_factory.mktemp("inv") / "shop.db"
    return sqlite_shop(path, "optimistic")


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(initial=st.integers(0, 10), steps=ops)
def test_stock_is_conserved(shop: Shop, initial: int, steps: list[Op]) -> None:
    n = next(_skus)
    uid = users.register(shop, f"prop{n}", "", "correct horse").id
    pid = catalog.create_product(shop, f"PROP-{n}", "Property", 100, initial).id
    stocked, live = initial, {}  # live: order id -> quantity
    placed: list[int] = []
    for kind, value in steps:
        if kind == "order":
            try:
                o = orders.place_order(shop, uid, [LineRequest(pid, value)]).order
                live[o.id] = value
                placed.append(o.id)
            except SoldOut:
                assert stocked - sum(live.values()) < value
        elif kind == "cancel" and placed:
            oid = placed[value % len(placed)]
            try:
                orders.cancel_order(shop, uid, oid)
                del live[oid]
            except StateConflict:
                assert oid not in live
        elif kind == "restock":
            catalog.restock(shop, pid, value)
            stocked += value
        stock = shop.queries.product(pid).stock  # type: ignore[union-attr]
        assert stock >= 0
        assert stock + sum(live.values()) == stocked

"""Stock conservation: whatever buyers and cancels do, and however they interleave, every
unit is either in stock or on exactly one live order, and stock never goes below zero —
on SQLite and PostgreSQL, under every reservation strategy (the default ``atomic`` too).

Two forms: concurrent (threads racing real orders and cancels, with a watcher reading the
invariant while they run) and sequential (hypothesis picks the script, restocks included).
Both small here; the race lab runs the large version.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from bazaar.shop.adapters import STRATEGIES, Strategy
from bazaar.shop.domain import LineRequest, RetryableConflict, SoldOut, StateConflict
from bazaar.shop.services import Shop, catalog, orders, users

from .conftest import ShopFactory

T = TypeVar("T")

# One statement, so both databases answer from one snapshot: stock and the units on live
# orders of the same moment.
HELD = text("""
    SELECT p.stock,
           COALESCE((SELECT SUM(l.quantity) FROM order_lines l
                     JOIN orders o ON o.id = l.order_id
                     WHERE l.product_id = p.id AND o.status = 'placed'), 0) AS held
    FROM products p WHERE p.id = :id
""")


def _stock_and_held(engine: Engine, product_id: int) -> tuple[int, int]:
    with engine.connect() as conn:
        row = conn.execute(HELD, {"id": product_id}).one()
    return int(row.stock), int(row.held)


def _following_retries(fn: Callable[[], T]) -> T:
    """Call ``fn`` again on a 409 ``retry``, as a client would (bounded)."""
    for _ in range(100):
        try:
            return fn()
        except RetryableConflict:
            continue
    raise AssertionError("still conflicting after 100 tries")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_concurrent_buyers_and_cancels_conserve_stock(
        make_shop: ShopFactory, engine: Engine, strategy: Strategy) -> None:
    shop = make_shop(strategy)
    buyers, steps, initial = 6, 12, {"A": 15, "B": 6}
    uids = [users.register(shop, f"buyer{i}", "", "correct horse").id
            for i in range(buyers // 2)]
    pids = {sku: catalog.create_product(shop, f"INV-{sku}", sku, 100, n).id
            for sku, n in initial.items()}
    barrier = threading.Barrier(buyers + 1)
    done = threading.Event()
    errors: list[BaseException] = []
    placed: list[int] = []
    refused: list[int] = []
    cancel_lost: list[int] = []
    lock = threading.Lock()
    samples: list[dict[str, tuple[int, int]]] = []

    # Buyers come in pairs sharing one account (one person, two devices): both may cancel
    # the same order at the same moment, and only one of them may get the stock back.
    shared: list[list[int]] = [[] for _ in range(buyers // 2)]

    def buyer(i: int) -> None:
        rng = random.Random(i)  # each buyer's script is fixed; the interleaving is not
        uid, mine = uids[i // 2], shared[i // 2]
        barrier.wait(timeout=30)
        try:
            for _ in range(steps):
                with lock:
                    oid = rng.choice(mine) if mine and rng.random() < 0.4 else None
                if oid is not None:
                    try:
                        _following_retries(partial(orders.cancel_order, shop, uid, oid))
                    except StateConflict:  # the twin cancelled it first
                        with lock:
                            cancel_lost.append(oid)
                    with lock:
                        if oid in mine:
                            mine.remove(oid)
                    continue
                lines = [LineRequest(pids[sku], rng.randint(1, 3))
                         for sku in rng.sample(sorted(pids), rng.randint(1, 2))]
                try:
                    view = _following_retries(partial(orders.place_order, shop, uid, lines)).order
                except SoldOut:
                    with lock:
                        refused.append(i)
                    continue
                with lock:
                    mine.append(view.id)
                    placed.append(view.id)
        except BaseException as exc:
            errors.append(exc)

    def watcher() -> None:
        barrier.wait(timeout=30)
        while not done.is_set() and len(samples) < 500:
            samples.append({sku: _stock_and_held(engine, pid) for sku, pid in pids.items()})

    threads = [threading.Thread(target=buyer, args=(i,)) for i in range(buyers)]
    watch = threading.Thread(target=watcher)
    for t in [*threads, watch]:
        t.start()
    for t in threads:
        t.join(timeout=120)
    done.set()
    watch.join(timeout=30)
    assert not any(t.is_alive() for t in [*threads, watch])
    assert not errors, errors

    final = {sku: _stock_and_held(engine, pid) for sku, pid in pids.items()}
    for sample in [*samples, final]:
        for sku, (stock, held) in sample.items():
            assert stock >= 0, (sku, sample)
            assert stock + held == initial[sku], (sku, sample)
    # The race was a race: orders got through and others were refused for want of stock.
    assert placed and refused and samples
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT COUNT(*) FROM orders")) == len(placed)
    for sku, pid in pids.items():  # what the shop reports is what the table holds
        assert shop.queries.product(pid).stock == final[sku][0]  # type: ignore[union-attr]


_skus = itertools.count()
Op = tuple[str, int]
ops = st.lists(st.one_of(st.tuples(st.just("order"), st.integers(1, 6)),
                         st.tuples(st.just("cancel"), st.integers(0, 20)),
                         st.tuples(st.just("restock"), st.integers(1, 4))), max_size=20)


@pytest.fixture(params=STRATEGIES)
def any_shop(request: pytest.FixtureRequest, make_shop: ShopFactory) -> Iterator[Shop]:
    yield make_shop(request.param)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(initial=st.integers(0, 10), steps=ops)
def test_any_script_of_orders_cancels_and_restocks_conserves_stock(
        any_shop: Shop, engine: Engine, initial: int, steps: list[Op]) -> None:
    shop = any_shop
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
        stock, held = _stock_and_held(engine, pid)
        assert stock >= 0
        assert (stock, held) == (stocked - sum(live.values()), sum(live.values()))

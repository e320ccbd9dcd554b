"""Never oversell, never double-book: K concurrent clients against M units (K > M), as
threads and as separate processes, on SQLite and PostgreSQL, under every strategy."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from bazaar.shop.adapters import STRATEGIES, Strategy, schema
from bazaar.shop.domain import LineRequest, RetryableConflict, SoldOut
from bazaar.shop.services import Shop, bookings, catalog, orders, users

from .conftest import ShopFactory

START = date(2031, 3, 1)
WORKER = Path(__file__).with_name("oversell_worker.py")


def _race(k: int, fn: object) -> Counter[str]:
    """Run ``fn(i)`` in k threads released together; count outcomes. A "retry" answer is
    followed, as a client would; anything else than ok / sold-out fails the test."""
    outcomes: Counter[str] = Counter()
    errors: list[BaseException] = []
    barrier = threading.Barrier(k)
    lock = threading.Lock()

    def client(i: int) -> None:
        barrier.wait()
        while True:
            try:
                fn(i)  # type: ignore[operator]
                outcome = "ok"
            except SoldOut:
                outcome = "sold-out"
            except RetryableConflict:
                with lock:
                    outcomes["retry"] += 1
                continue
            except BaseException as exc:
                errors.append(exc)
                return
            with lock:
                outcomes[outcome] += 1
            return

    threads = [threading.Thread(target=client, args=(i,)) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return outcomes


def _setup(shop: Shop, clients: int, units: int) -> tuple[list[int], int, int, int]:
    uids = [users.register(shop, f"buyer{i}", "", "correct horse").id for i in range(clients)]
    a = catalog.create_product(shop, "HOT-A", "Hot item", 100, units)
    b = catalog.create_product(shop, "HOT-B", "Scarcer item", 100, units - 2)
    room = catalog.create_room(shop, "HOT-R", "Hot room", 100, units, first_night=START,
                               horizon_days=5)
    return uids, a.id, b.id, room.id


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_threads_never_oversell_or_double_book(
        make_shop: ShopFactory, engine: Engine, strategy: Strategy) -> None:
    shop = make_shop(strategy)
    k, m = 14, 5
    uids, a, b, room = _setup(shop, k, m)

    got = _race(k, lambda i: orders.place_order(shop, uids[i], [LineRequest(a, 1)]))
    assert (got["ok"], got["sold-out"]) == (m, k - m), got
    assert shop.queries.product(a).stock == 0  # type: ignore[union-attr]

    # Two-line orders: all or nothing, so the scarcer product decides (m - 2 orders).
    catalog.restock(shop, a, m)
    got = _race(k, lambda i: orders.place_order(shop, uids[i],
                                                [LineRequest(a, 1), LineRequest(b, 1)]))
    assert (got["ok"], got["sold-out"]) == (m - 2, k - m + 2), got
    assert shop.queries.product(b).stock == 0  # type: ignore[union-attr]
    assert shop.queries.product(a).stock == 2  # type: ignore[union-attr]

    got = _race(k, lambda i: bookings.reserve_room(shop, uids[i], room, START,
                                                   START + timedelta(days=2), 1))
    assert (got["ok"], got["sold-out"]) == (m, k - m), got
    with engine.connect() as conn:
        n = schema.room_nights
        reserved = conn.execute(select(n.c.night, n.c.reserved, n.c.total)
                                .where(n.c.room_id == room).order_by(n.c.night)).all()
        lines = conn.scalar(select(func.sum(schema.order_lines.c.quantity)))
    assert [(r.reserved, r.total) for r in reserved[:2]] == [(m, m), (m, m)]
    assert all(r.reserved == 0 for r in reserved[2:])
    assert lines == m + 2 * (m - 2)  # every sold unit is on exactly one order line


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_processes_never_oversell_or_double_book(
        make_shop: ShopFactory, database_url: str, tmp_path: Path, strategy: Strategy) -> None:
    shop = make_shop(strategy)
    k, m = 6, 3
    uids, a, _, room = _setup(shop, k, m)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(WORKER), database_url, strategy, str(uid),
                               str(a), str(room), START.isoformat(), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for uid in uids]
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    products = Counter(r["product"]["outcome"] for r in results)
    rooms = Counter(r["room"]["outcome"] for r in results)
    assert products == {"ok": m, "sold-out": k - m}
    assert rooms == {"ok": m, "sold-out": k - m}
    assert shop.queries.product(a).stock == 0  # type: ignore[union-attr]
    assert catalog.search_rooms(shop, START, START + timedelta(days=2)) == []

"""The shop's events reach the warehouse exactly as the shop saw them, through the real
pieces: ``bazaar up`` (its outbox relay is the ``shop-events`` service), a Kafka-protocol log
that is down while the customers shop, the pipeline's ingester and warehouse."""

from __future__ import annotations

from pathlib import Path

import httpx
import sqlalchemy as sa

from bazaar.broker import run_subprocess
from bazaar.localservers import bazaar_up
from bazaar.pipeline import Ingester, Lake, Warehouse
from bazaar.processes import eventually, free_port


def _login(url: str, name: str) -> tuple[int, dict[str, str]]:
    made = httpx.post(f"{url}/users", json={"username": name, "password": "correct horse"})
    assert made.status_code == 201, made.text
    token = httpx.post(f"{url}/auth/token",
                       data={"username": name, "password": "correct horse"}).json()
    return made.json()["id"], {"Authorization": f"Bearer {token['access_token']}"}


def _outbox(data: Path) -> tuple[int, int, int]:
    """(rows, unsent rows, product views) in the shop's outbox."""
    engine = sa.create_engine(f"sqlite:///{data / 'bazaar.db'}")
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text(
                "SELECT count(*), count(*) FILTER (WHERE sent_at IS NULL), "
                "count(*) FILTER (WHERE CAST(payload AS TEXT) LIKE '%product_viewed%') "
                "FROM outbox")).one()
    finally:
        engine.dispose()
    return int(row[0]), int(row[1]), int(row[2])


def test_the_warehouse_shows_what_the_shop_did_while_the_log_was_down(tmp_path: Path) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    data = tmp_path / "data"
    with bazaar_up(data, env={"BAZAAR_KAFKA_BOOTSTRAP": bootstrap}) as shop:
        url = shop.url
        ann, a = _login(url, "ann")
        bob, b = _login(url, "bob")
        items = httpx.get(f"{url}/products?limit=3", headers=a).json()["items"]
        p1, p2, p3 = (p["id"] for p in items)
        price = {p["id"]: p["price_cents"] for p in items}
        placed = []
        for auth, lines in ((a, {p1: 2, p2: 1}), (b, {p2: 3}), (a, {p3: 1}), (b, {p1: 1})):
            r = httpx.post(f"{url}/orders", headers=auth, json={"lines": [
                {"product_id": pid, "quantity": q} for pid, q in lines.items()]})
            assert r.status_code == 201, r.text  # the log is down; the shop does not care
            placed.append(r.json())
        o1, o2, o3, o4 = (o["id"] for o in placed)
        assert httpx.post(f"{url}/orders/{o3}/cancel", headers=a).status_code == 200
        started = httpx.post(f"{url}/orders/{o4}/checkout", headers=b)
        assert started.status_code == 202, started.text
        eventually(lambda: httpx.get(f"{url}/orders/{o4}/checkout", headers=b).json()[
            "status"] == "completed", timeout=60, what="order 4's checkout to complete")
        for auth, pid, times in ((a, p1, 3), (b, p2, 2), (b, p1, 1)):
            for _ in range(times):
                assert httpx.get(f"{url}/products/{pid}", headers=auth).status_code == 200
        stock = {p["id"]: p["stock"] for p in
                 httpx.get(f"{url}/products?limit=3", headers=a).json()["items"]}
        # Nothing is lost while the log is down: every event waits in the outbox.
        rows, unsent, _ = eventually(lambda: (s := _outbox(data))[2] == 6 and s,
                                         timeout=30, what="the views in the outbox")
        assert unsent == rows
        with run_subprocess(tmp_path / "broker", port) as _broker:
            eventually(lambda: _outbox(data)[1] == 0, timeout=60,
                       what="the relay to publish the outbox once the log is up")
            lake = Lake(tmp_path / "lake")
            stats = Ingester(bootstrap, lake).run(until_idle=True, idle_s=1.0)
        assert stats.records >= rows
    with Warehouse(tmp_path / "warehouse.duckdb") as wh:
        wh.load(lake)
        assert dict(wh.query("SELECT order_id, status FROM dim_order")) == {
            str(o1): "placed", str(o2): "placed", str(o3): "cancelled", str(o4): "paid"}
        revenue = 2 * price[p1] + price[p2] + 3 * price[p2] + price[p1]
        assert wh.query("SELECT sum(orders), sum(units), sum(revenue_cents) FROM agg_daily"
                        ) == [(3, 7, revenue)]
        units = dict(wh.query("SELECT product_id, units_sold FROM dim_product"))
        assert {p: units.get(p) for p in (p1, p2, p3)} == {p1: 3, p2: 4, p3: 0}
        assert dict(wh.query("""SELECT product_id, count(*) FROM fact_events
                                WHERE type = 'product_viewed' GROUP BY 1""")) == {p1: 4, p2: 2}
        levels = dict(wh.query("SELECT product_id, stock FROM stock_levels"))
        assert {p: levels[p] for p in (p1, p2, p3)} == stock
        signed_up = {r[0] for r in wh.query(
            "SELECT customer_id FROM fact_events WHERE type = 'user_signed_up'")}
        assert {str(ann), str(bob)} <= signed_up
        # One fact per event, though the relay may publish a row twice.
        assert wh.query("SELECT count(*) FROM fact_events")[0][0] == rows

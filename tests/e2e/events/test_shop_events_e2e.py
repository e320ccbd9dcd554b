"""The shop's events reach the warehouse exactly as the shop saw them, through the real
pieces ``bazaar up`` runs: the shop's outbox relay (``shop-events``), the pipeline's ingester
and dashboard (``pipeline-ingest``, ``pipeline-dashboard``, supervised), with the
Kafka-protocol log down while the customers shop and the ingester killed with SIGKILL while
they go on."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pyarrow.compute as pc
import sqlalchemy as sa

from bazaar.broker import run_subprocess
from bazaar.localservers import bazaar_up
from bazaar.pipeline import Lake, Warehouse, read_table
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


def _ingester(parent: int, data: Path) -> int:
    """The pid of this shop's ingester (a child of its ``bazaar up``)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = next(ln.split(":\t")[1].strip() for ln in status.read_text().splitlines()
                        if ln.startswith("PPid:"))
            cmd = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, StopIteration):
            continue
        if ppid == str(parent) and " pipeline ingest " in cmd and str(data) in cmd:
            found.append(int(status.parent.name))
    assert len(found) == 1, found
    return found[0]


def _order(url: str, auth: dict[str, str], lines: dict[int, int]) -> dict[str, Any]:
    r = httpx.post(f"{url}/orders", headers=auth, json={"lines": [
        {"product_id": pid, "quantity": q} for pid, q in lines.items()]})
    assert r.status_code == 201, r.text
    placed: dict[str, Any] = r.json()
    return placed


def test_the_warehouse_shows_what_the_shop_did_through_a_log_outage_and_a_kill(
        tmp_path: Path) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    data = tmp_path / "data"
    with bazaar_up(data, env={"BAZAAR_KAFKA_BOOTSTRAP": bootstrap,
                                   "BAZAAR_PIPELINE": "true"}) as shop:
        url = shop.url
        dashboard = httpx.get(f"{url}/").json()["services"]["pipeline-dashboard"]["url"]
        ann, a = _login(url, "ann")
        bob, b = _login(url, "bob")
        items = httpx.get(f"{url}/products?limit=3", headers=a).json()["items"]
        p1, p2, p3 = (p["id"] for p in items)
        price = {p["id"]: p["price_cents"] for p in items}
        # The log is down: the shop does not care.
        o1, o2, o3, o4 = (_order(url, auth, lines)["id"] for auth, lines in (
            (a, {p1: 2, p2: 1}), (b, {p2: 3}), (a, {p3: 1}), (b, {p1: 1})))
        assert httpx.post(f"{url}/orders/{o3}/cancel", headers=a).status_code == 200
        started = httpx.post(f"{url}/orders/{o4}/checkout", headers=b)
        assert started.status_code == 202, started.text
        eventually(lambda: httpx.get(f"{url}/orders/{o4}/checkout", headers=b).json()[
            "status"] == "completed", timeout=60, what="order 4's checkout to complete")
        for auth, pid, times in ((a, p1, 3), (b, p2, 2), (b, p1, 1)):
            for _ in range(times):
                assert httpx.get(f"{url}/products/{pid}", headers=auth).status_code == 200
        # Nothing is lost while the log is down: every event waits in the outbox.
        rows, unsent, _ = eventually(lambda: (s := _outbox(data))[2] == 6 and s,
                                     timeout=30, what="the views in the outbox")
        assert unsent == rows
        revenue = 3 * price[p1] + 4 * price[p2]
        with run_subprocess(tmp_path / "broker", port):
            eventually(lambda: _outbox(data)[1] == 0, timeout=60,
                       what="the relay to publish the outbox once the log is up")

            def totals() -> dict[str, int]:
                found: dict[str, int] = httpx.get(f"{dashboard}/api/summary").json()["totals"]
                return found

            live = eventually(lambda: (t := totals())["orders"] == 3 and t, timeout=60,
                              what="the live dashboard to show the three orders that count")
            assert live["revenue_cents"] == revenue
            first = _ingester(shop.process.pid, data)
            os.kill(first, signal.SIGKILL)
            o5 = _order(url, a, {p3: 2})["id"]
            eventually(lambda: totals()["orders"] == 4, timeout=90,
                       what="the restarted ingester to bring order 5 to the dashboard")
            assert _ingester(shop.process.pid, data) != first
            rows = _outbox(data)[0]
            eventually(lambda: totals()["events"] == rows, timeout=60,
                       what="every event in the warehouse")
        assert "warning: pipeline-ingest exited with -9; restarting in" in shop.output()
    lake = Lake(data / "pipeline" / "lake")
    offsets = read_table([str(lake.root / f.path) for f in lake.files()]).column("offset")
    assert sorted(pc.unique(offsets).to_pylist()) == list(range(rows))  # each once, none lost
    assert len(offsets) == rows
    with Warehouse(data / "pipeline" / "warehouse.duckdb") as wh:
        wh.load(lake)  # anything the dashboard had not loaded when it stopped
        assert dict(wh.query("SELECT order_id, status FROM dim_order")) == {
            str(o1): "placed", str(o2): "placed", str(o3): "cancelled", str(o4): "paid",
            str(o5): "placed"}
        assert wh.query("SELECT sum(orders), sum(units), sum(revenue_cents) FROM agg_daily"
                        ) == [(4, 9, revenue + 2 * price[p3])]
        units = dict(wh.query("SELECT product_id, units_sold FROM dim_product"))
        assert {p: units.get(p) for p in (p1, p2, p3)} == {p1: 3, p2: 4, p3: 2}
        assert dict(wh.query("""SELECT product_id, count(*) FROM fact_events
                                WHERE type = 'product_viewed' GROUP BY 1""")) == {p1: 4, p2: 2}
        levels = dict(wh.query("SELECT product_id, stock FROM stock_levels"))
        assert {p: levels[p] for p in (p1, p2, p3)} == {
            p: items[i]["stock"] - sold for i, (p, sold) in enumerate(
                ((p1, 3), (p2, 4), (p3, 2)))}
        signed_up = {r[0] for r in wh.query(
            "SELECT customer_id FROM fact_events WHERE type = 'user_signed_up'")}
        assert {str(ann), str(bob)} <= signed_up
        # One fact per event: the ids are unique, the load is idempotent.
        assert wh.query("SELECT count(*) FROM fact_events")[0][0] == rows

"""The dashboard in a real browser (Debian chromium driven by Playwright, no browser
download): the charts and tables show the warehouse's numbers, and a low-stock event put on
the log shows up as a notification without a reload. Screenshots are saved beside the test's
temporary files (the path is printed)."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from playwright import sync_api
from tests.support.pipeline import fill_lake

from bazaar.broker import BrokerProcess, run_subprocess
from bazaar.pipeline import Lake, Shape, Warehouse, shop_event
from bazaar.processes import Child, eventually, free_port


@dataclass
class Running:
    url: str
    broker: BrokerProcess
    expected: Warehouse


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    base = tmp_path_factory.mktemp("dashboard")
    root = base / "pipeline"
    lake = Lake(root / "lake")
    fill_lake(lake, 8_000, seed=21, shape=Shape(days=2))
    with run_subprocess(base / "broker") as broker:
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        producer.produce("shop.events", b"{}")  # the topic exists before the dashboard starts
        producer.flush(30)
        port = free_port()
        child = Child([sys.executable, "-m", "bazaar.commands.pipeline", "dashboard",
                       "--dir", str(root), "--port", str(port), "--bootstrap", broker.bootstrap,
                       "--refresh-s", "0.5", "--low-stock", "10"],
                      name="dashboard", log=base / "dashboard.log",
                      env={**os.environ, "PYTHONUNBUFFERED": "1"},
                      ready_url=f"http://127.0.0.1:{port}/dashboard/api/health", ready_timeout=90)
        with child.start():
            url = f"http://127.0.0.1:{port}"
            eventually(lambda: httpx.get(f"{url}/dashboard/api/health").json()["alerts"]
                       == "watching", timeout=60)
            with Warehouse(base / "expected.duckdb") as expected:
                expected.load(lake)
                eventually(lambda: httpx.get(f"{url}/dashboard/api/summary").json()["totals"]
                           ["events"] == expected.counts()["fact_events"], timeout=60)
                yield Running(url, broker, expected)


def _chromium() -> str:
    path = shutil.which("chromium")
    assert path, "chromium is not installed: ./dev test installs the Debian package 'chromium'"
    return path


def test_the_dashboard_shows_the_warehouse_numbers_and_live_alerts(board: Running,
                                                                   tmp_path: Path) -> None:
    wh = board.expected
    revenue = wh.query("SELECT sum(revenue_cents) FROM fact_orders")[0][0]
    orders = wh.query("SELECT count(DISTINCT order_id) FROM fact_orders")[0][0]
    top = wh.query("""SELECT product_id, sum(quantity) FROM fact_orders GROUP BY 1
                      ORDER BY sum(revenue_cents) DESC, 1 LIMIT 10""")
    funnel = [r[0] for r in wh.query("SELECT sessions FROM agg_funnel ORDER BY stage")]
    hours = wh.query("SELECT count(DISTINCT date_trunc('hour', ts)) FROM fact_orders")[0][0]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(),
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            seen_requests: list[str] = []
            page.on("request", lambda r: seen_requests.append(r.url))
            page.goto(f"{board.url}/dashboard")
            page.wait_for_function(
                "document.getElementById('total-revenue').dataset.cents !== undefined")
            assert int(page.get_attribute("#total-revenue", "data-cents") or -1) == revenue
            assert page.inner_text("#total-orders").replace(",", "") == str(orders)
            cells = page.eval_on_selector_all(
                "#top-products tbody tr",
                "rows => rows.map(r => [r.cells[0].textContent, r.cells[2].textContent])")
            assert cells == [[str(p), str(u)] for p, u in top]
            shown_funnel = page.eval_on_selector_all(
                "#funnel tbody tr", "rows => rows.map(r => Number(r.cells[1].textContent))")
            assert shown_funnel == funnel
            # uPlot drew the revenue chart: a canvas, one point per hour with orders.
            assert page.get_attribute("#revenue-chart", "data-points") == str(hours)
            assert page.locator("#revenue-chart canvas").count() >= 1
            assert all(u.startswith(board.url) for u in seen_requests), "no CDN, no network"
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

            # A product's stock drops under the threshold: the page says so, no reload.
            producer = Producer({"bootstrap.servers": board.broker.bootstrap})
            sent = time.time()
            producer.produce("shop.events", shop_event("stock_changed", "low-1", sent,
                                                       product_id=7, stock=3), b"7")
            producer.flush(30)
            page.wait_for_selector("#notifications div.low_stock", timeout=30_000)
            latency = time.time() - sent
            assert "product 7: only 3 left" in page.inner_text("#notifications")
            page.screenshot(path=str(tmp_path / "dashboard-alert.png"), full_page=True)
            print(f"\nscreenshots in {tmp_path}; stock event → notification {latency:.3f}s")
        finally:
            browser.close()


def test_the_dashboard_refuses_bad_requests_cleanly(board: Running) -> None:
    r = httpx.get(f"{board.url}/dashboard/static/../../etc/passwd")
    assert r.status_code == 404
    r = httpx.post(f"{board.url}/dashboard/api/summary", content=b"x" * (1 << 20))
    assert r.status_code in (405, 413)
    assert httpx.get(f"{board.url}/dashboard/nope").status_code == 404


def _end_offsets(bootstrap: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "probe"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition("shop.events", 0), 10)[1:])
    finally:
        consumer.close()


def test_post_events_puts_a_batch_on_the_log(board: Running) -> None:
    from confluent_kafka import Consumer, TopicPartition

    before = _end_offsets(board.broker.bootstrap)
    batch = [{"type": "product_viewed", "event_id": f"click-{i}", "session_id": "web-1",
              "product_id": i} for i in range(50)]
    r = httpx.post(f"{board.url}/events", json=batch)
    assert r.status_code == 202 and r.json() == {"accepted": 50}
    assert _end_offsets(board.broker.bootstrap) == before + 50  # on the log when answered
    consumer = Consumer({"bootstrap.servers": board.broker.bootstrap, "group.id": "check",
                         "enable.partition.eof": True})
    consumer.assign([TopicPartition("shop.events", 0, before)])
    got = []
    for _ in range(100):
        for m in consumer.consume(100, 1.0):
            if m.error() is None:
                got.append(m.value())
        if len(got) >= 50:
            break
    consumer.close()
    assert [orjson_id(v) for v in got] == [f"click-{i}" for i in range(50)]


def orjson_id(value: bytes) -> str:
    import orjson

    return str(orjson.loads(value)["event_id"])


def test_post_events_refuses_bad_batches_and_produces_nothing(board: Running) -> None:
    before = _end_offsets(board.broker.bootstrap)
    bad_bodies = [b"{not json", b"[]", b'{"type": "product_viewed"}', b"[1, 2]",
                  b'[{"type": "product_viewed"}, {"type": "teleported"}]',
                  b'[{"type": "cart_added", "quantity": 1e400}]',
                  b'[{"type": "cart_added", "quantity": 99999999999999999999999}]',
                  b'[{"type": "cart_added", "at": "now"}]',
                  b"[" + b",".join([b'{"type": "cart_added"}'] * 1001) + b"]"]
    for body in bad_bodies:
        r = httpx.post(f"{board.url}/events", content=body)
        assert r.status_code == 422, (body[:60], r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    huge = httpx.post(f"{board.url}/events", content=b"[" + b" " * (2 << 20) + b"]")
    assert huge.status_code == 413
    assert _end_offsets(board.broker.bootstrap) == before

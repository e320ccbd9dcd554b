"""Bazaar Pipeline, one run: ingest (log → lake) against a bare consumer reading the same
records; the same preparation on DuckDB, a pandas/pyarrow baseline and a Dask LocalCluster
(2 workers), with equal digests; the warehouse load; the dashboard's query; event → alert
latency through the log."""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bazaar.broker import run_subprocess
from bazaar.pipeline import (
    Alert,
    Dashboard,
    DashboardConfig,
    Ingester,
    Lake,
    Rules,
    Shape,
    Warehouse,
    Watcher,
    dask_client,
    digest,
    generate,
    prepare_dask,
    prepare_duckdb,
    prepare_pandas,
    shop_event,
)

TOPIC = "shop.events"


def _bare_consume(bootstrap: str, total: int) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-bare",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "fetch.max.bytes": 32 << 20})
    consumer.subscribe([TOPIC])
    seen, started = 0, None
    deadline = time.monotonic() + 300
    while seen < total and time.monotonic() < deadline:
        batch = consumer.consume(20_000, 0.5)
        if batch and started is None:
            started = time.perf_counter()
        seen += sum(1 for m in batch if m.error() is None)
    consumer.close()
    return seen / (time.perf_counter() - (started or time.perf_counter()))


def _alert_latency(bootstrap: str, n: int, rate: float) -> list[float]:
    latencies: list[float] = []
    done = threading.Event()

    def on_alert(alert: Alert) -> None:
        latencies.append(alert.raised_at - alert.event_at)
        if len(latencies) >= n:
            done.set()

    watcher = Watcher(bootstrap, on_alert, rules=Rules(low_stock=10)).start()
    watcher.ready.wait(60)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1})
    for i in range(n):  # every event a new product under the threshold: every one alerts
        producer.produce(TOPIC, shop_event("stock_changed", f"a{i}", time.time(),
                                           product_id=10_000_000 + i, stock=1))
        producer.poll(0)
        time.sleep(1 / rate)
    producer.flush(30)
    done.wait(60)
    watcher.stop()
    return sorted(latencies)


def main(quick: bool) -> None:
    n = 200_000 if quick else 2_000_000
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp, \
            run_subprocess(Path(tmp) / "broker") as broker:
        root = Path(tmp)
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept: it owns the future
        admin.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(30)
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20,
                             "batch.size": 1 << 20, "queue.buffering.max.messages": 2_000_000})
        made = 0
        for chunk in generate(n, seed=1, shape=Shape(days=1 if quick else 7)):
            for key, value in chunk:
                producer.produce(TOPIC, value, key)
            producer.poll(0)
            made += len(chunk)
        producer.flush(120)
        print(f"{made:,} events on the log")

        bare = _bare_consume(broker.bootstrap, made)
        lake = Lake(root / "lake")
        stats = Ingester(broker.bootstrap, lake, batch=100_000).run(until_idle=True,
                                                                     idle_s=0.5)
        print(f"ingest: {stats.records:,} records → {stats.files} files in {stats.seconds:.2f}s"
              f" = {stats.per_second:,.0f} events/s (bare consumer {bare:,.0f}/s, "
              f"{stats.per_second / bare:.0%} of it; includes group join)")

        paths = lake.paths()
        timings: dict[str, float] = {}
        digests = {}
        for name, fn in (("duckdb", prepare_duckdb), ("pandas", prepare_pandas)):
            started = time.perf_counter()
            table = fn(paths)
            timings[name] = time.perf_counter() - started
            digests[name] = digest(table)
        with dask_client(workers=2) as client:
            started = time.perf_counter()
            table = prepare_dask(paths, client)
            timings["dask (2 workers)"] = time.perf_counter() - started
            digests["dask (2 workers)"] = digest(table)
        rows = digests["duckdb"][0]
        same = len({d for d in digests.values()}) == 1
        print(f"prepare {rows:,} rows (digests equal: {same}):")
        for name, seconds in timings.items():
            print(f"  {name:18} {seconds:6.2f}s  {made / seconds:10,.0f} events/s  "
                  f"{seconds / timings['pandas']:.2f}x the pandas baseline's time")

        with Warehouse(root / "wh.duckdb") as wh:
            load = wh.load(lake)
            print(f"warehouse load: {load.facts_added:,} facts in {load.seconds:.2f}s "
                  f"({made / load.seconds:,.0f} events/s)")
        board = Dashboard(DashboardConfig(warehouse=root / "wh.duckdb"))
        runs = [board.summary()["query_ms"] for _ in range(5)]
        board.warehouse.close()
        print(f"dashboard summary query at {made:,} events: median {statistics.median(runs):.1f}"
              f" ms (all of its 5 queries)")

        lat = _alert_latency(broker.bootstrap, 300 if quick else 2_000, 500.0)
        if lat:
            p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            print(f"event → alert: {len(lat)} alerts, p50 {p50 * 1000:.1f} ms, "
                  f"p99 {p99 * 1000:.1f} ms")

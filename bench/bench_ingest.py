"""Bazaar Pipeline's ingest, log → lake, against baselines in the same run: a bare librdkafka
consumer reading the same records (the ceiling: ingest cannot read faster), Arrow's JSON
parser on the same values, and one pyarrow Parquet write of the same rows (no fsync, no
manifest). The ingester's per-step times show where its time goes. Two spreads of event
time: one day (a live feed's batch covers minutes) and seven (many hours per batch)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bazaar.broker import run_subprocess
from bazaar.pipeline import Ingester, Lake, Shape, decode_batch, generate

TOPIC = "shop.events"


def _bare_consume(bootstrap: str, total: int) -> float:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bare-{time.time()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "fetch.max.bytes": 32 << 20, "max.partition.fetch.bytes": 16 << 20})
    consumer.subscribe([TOPIC])
    seen, started = 0, None
    deadline = time.monotonic() + 300
    while seen < total and time.monotonic() < deadline:
        batch = consumer.consume(100_000, 0.5)
        if batch and started is None:
            started = time.perf_counter()
        seen += sum(1 for m in batch if m.error() is None)
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return seen / elapsed if elapsed else 0.0


def _one_spread(root: Path, n: int, days: int) -> None:
    with run_subprocess(root / f"broker-{days}") as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept: owns the future
        admin.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(30)
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20,
                             "batch.size": 1 << 20, "queue.buffering.max.messages": 2_000_000})
        values: list[bytes] = []
        for chunk in generate(n, seed=1, shape=Shape(days=days)):
            for key, value in chunk:
                producer.produce(TOPIC, value, key)
                values.append(value)
            producer.poll(0)
        producer.flush(120)
        made = len(values)

        # Baselines on the same records.
        bare = _bare_consume(broker.bootstrap, made)
        started = time.perf_counter()
        table = decode_batch(TOPIC, 0, range(made), values, [0] * made)
        parse = made / (time.perf_counter() - started)
        started = time.perf_counter()
        pq.write_table(table, root / f"baseline-{days}.parquet", compression="zstd")
        write = made / (time.perf_counter() - started)
        del table

        lake = Lake(root / f"lake-{days}")
        stats = Ingester(broker.bootstrap, lake, batch=100_000).run(until_idle=True,
                                                                     idle_s=0.5)
        assert stats.records == made, (stats.records, made)
        assert sum(f.rows for f in lake.files()) == made
        steps, span = stats.steps, stats.reading_seconds
        rate = stats.per_second_reading
        print(f"{days} day(s), {made:,} events, 2 partitions: ingest {rate:,.0f} events/s once "
              f"records flow ({stats.per_second:,.0f}/s with start-up and group join), "
              f"{stats.files} files")
        print(f"  baselines: bare consumer {bare:,.0f}/s (ingest = {rate / bare:.0%} of it); "
              f"decode_batch alone {parse:,.0f}/s; one pyarrow Parquet write {write:,.0f}/s")
        print(f"  of the {span:.2f}s: consume and commit (main thread) "
              f"{steps['consume']:.2f}s + {steps['commit']:.2f}s; decode {steps['decode']:.2f}s "
              f"and write {steps['write']:.2f}s in the writer thread, beside consume "
              f"(busy {(steps['decode'] + steps['write']) / span:.0%} of the time)")


def main(quick: bool) -> None:
    n = 200_000 if quick else 2_000_000
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        for days in (1, 7):
            _one_spread(Path(tmp), n, days)
    print(f"load average {os.getloadavg()[0]:.1f}")

"""Exactly once from the log into the lake and on into the warehouse: the ingester, a real
process reading Bazaar Log through librdkafka, is killed with SIGKILL at random moments while
events flow; after a last run, the lake holds every record once (by count, by offset and by
row content) and the warehouse equals one built from a clean lake. The lab does this with 10M
events and 100 kills; the test with 24k events and 4 kills (BAZAAR_TEST_PIPELINE_EVENTS and
_KILLS for more)."""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from bazaar.broker import run_subprocess
from bazaar.pipeline import Lake, Warehouse, decode_batch, generate, read_table
from bazaar.processes import Child, eventually

TOPIC, PARTITIONS, GROUP = "shop.events", 3, "bazaar-pipeline"
# The suite's size (half the kills just after a batch commit); the lab runs 10M events and
# 100 kills, and these variables scale this test up.
EVENTS = int(os.environ.get("BAZAAR_TEST_PIPELINE_EVENTS", "24000"))
KILLS = int(os.environ.get("BAZAAR_TEST_PIPELINE_KILLS", "4"))
LOADER_KILLS = int(os.environ.get("BAZAAR_TEST_PIPELINE_LOADER_KILLS", "2"))
CONTENT = ["event_id", "type", "at", "customer_id", "session_id", "product_id", "order_id",
           "quantity", "price_cents", "stock", "payload"]


def _ingester(bootstrap: str, root: Path, log: Path, *extra: str) -> Child:
    return Child([sys.executable, "-m", "bazaar.commands.pipeline", "ingest",
                  "--bootstrap", bootstrap, "--dir", str(root), "--batch", "700",
                  "--session-timeout-ms", "2000", "--json", *extra],
                 name="ingester", log=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _content(table: pa.Table) -> Counter[tuple[object, ...]]:
    """Rows without their log position (a malformed row's id is its position and its time
    the log's: both left out)."""
    rows = table.select(CONTENT).to_pylist()
    return Counter(tuple(None if (k in ("event_id", "at") and r["type"] == "_malformed")
                         else r[k] for k in CONTENT) for r in rows)


def test_kill_9_at_random_points_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(17)
    root = tmp_path / "pipeline"
    with run_subprocess(tmp_path / "broker") as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for future in admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)]).values():
            future.result(30)
        chunks = list(generate(EVENTS, seed=4, chunk=1_000))
        produced = [v for c in chunks for _, v in c]

        def produce() -> None:
            producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5,
                                 "enable.idempotence": True})
            for chunk in chunks:  # the events flow while the ingester is killed
                for key, value in chunk:
                    producer.produce(TOPIC, value, key)
                producer.flush(30)
                time.sleep(0.05)
            assert producer.flush(30) == 0
            del producer

        flowing = threading.Thread(target=produce)
        flowing.start()
        lake = Lake(root / "lake")
        kills_mid_flow = 0
        for i in range(KILLS):
            child = _ingester(broker.bootstrap, root, tmp_path / f"ingest-{i}.log").spawn()
            before = lake.manifest()["version"]
            if i % 2:  # mid-flow: once it is writing, a moment into the next batches
                deadline = time.monotonic() + 60
                while (lake.manifest()["version"] == before and child.alive
                       and time.monotonic() < deadline):
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.0, 0.5))
            else:  # anywhere: starting up, joining the group, reading
                time.sleep(rng.uniform(0.5, 3.0))
            child.kill()
            kills_mid_flow += lake.manifest()["version"] > before
        flowing.join(120)
        assert not flowing.is_alive()
        last = _ingester(broker.bootstrap, root, tmp_path / "ingest-last.log", "--until-idle")
        last.spawn()
        assert last.wait(240) == 0, last.log_text(3000)

        # Every offset of every partition once, nothing else.
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": GROUP})
        ends = {p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), 10)[1]
                for p in range(PARTITIONS)}
        committed = {tp.partition: tp.offset for tp in consumer.committed(
            [TopicPartition(TOPIC, p) for p in range(PARTITIONS)], 10)}
        consumer.close()
        table = read_table(lake.paths())
        assert sum(ends.values()) == len(produced) == table.num_rows
        for p in range(PARTITIONS):
            offsets = sorted(o for o, part in zip(table.column("offset").to_pylist(),
                                                  table.column("partition").to_pylist(),
                                                  strict=True) if part == p)
            assert offsets == list(range(ends[p])), f"partition {p}"
            assert lake.next_offset(TOPIC, p) == ends[p] == committed[p]
        # The same rows as decoding what was produced: by content, every duplicate counted.
        expected = decode_batch(TOPIC, 0, list(range(len(produced))), produced,
                                [0] * len(produced))
        got = _content(table)
        assert got == _content(expected)
        assert kills_mid_flow >= 1, "no kill landed while batches were being written"
        assert {str(p) for p in lake.root.rglob("*.parquet")} == set(lake.paths())

    # The warehouse: kill -9 during loads, then finish; equal to one clean load.
    with Warehouse(tmp_path / "clean.duckdb") as clean:
        clean.load(lake)
        expected_digest = clean.digest()
    wh_path = root / "warehouse.duckdb"
    for i in range(LOADER_KILLS):
        loader = Child([sys.executable, "-m", "bazaar.commands.pipeline", "warehouse",
                        "--dir", str(root)], name="loader", log=tmp_path / f"load-{i}.log")
        loader.spawn()
        eventually(lambda child=loader: wh_path.exists() or not child.alive, timeout=60)
        time.sleep(rng.uniform(0.2, 1.5))
        loader.kill()
    with Warehouse(wh_path) as wh:
        wh.load(lake)
        assert wh.digest() == expected_digest

"""The five stages of a big data pipeline on one machine, exactly once under kill -9.

A real broker process holds the shop's events (generated, three partitions); they are
produced while the ingester — a real ``bazaar pipeline ingest`` process — is killed with
SIGKILL at random moments, then run once more until caught up. The lake is checked against
the log (every offset once; the same rows by content). Then each stage is timed: the
preparation on DuckDB, the pandas/pyarrow baseline and a Dask LocalCluster (2 workers), with
their digests compared; the warehouse load, interrupted by kill -9 too and compared with a
clean load; the dashboard's summary query.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bazaar.broker import run_subprocess
from bazaar.lab._experiment import Experiment, Report, RunContext
from bazaar.processes import Child

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TOPIC, PARTITIONS = "shop.events", 3
CONTENT = ["event_id", "type", "at", "customer_id", "session_id", "product_id", "order_id",
           "quantity", "price_cents", "stock", "payload"]


def _ingester(bootstrap: str, root: Path, log: Path, batch: int, *extra: str) -> Child:
    return Child([sys.executable, "-m", "bazaar.commands.pipeline", "ingest", "--bootstrap",
                  bootstrap, "--dir", str(root), "--batch", str(batch),
                  "--session-timeout-ms", "2000", "--json", *extra],
                 name="ingester", log=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _content(table: Any) -> Counter[tuple[object, ...]]:
    rows = table.select(CONTENT).to_pylist()
    return Counter(tuple(None if (k in ("event_id", "at") and r["type"] == "_malformed")
                         else r[k] for k in CONTENT) for r in rows)


def run(ctx: RunContext) -> Report:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    from bazaar import pipeline as p

    events = int(ctx.params.get("events", 200_000 if ctx.quick else 10_000_000))
    kills = int(ctx.params.get("kills", 20 if ctx.quick else 100))
    batch = int(ctx.params.get("batch", 5_000 if ctx.quick else 50_000))
    dask = bool(ctx.params.get("dask", True))
    # kill -9 of the warehouse loader: how many, and the latest moment (s) of the first one
    load_kills = int(ctx.params.get("load_kills", 3))
    load_window = float(ctx.params.get("load_window_s", 4.0))
    rng = random.Random(42)
    root = ctx.work_dir / "pipeline"
    rows: list[list[Any]] = []
    timeline: list[tuple[float, int, bool]] = []
    with run_subprocess(ctx.work_dir / "broker") as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept: it owns the future
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(30)
        produced = 0
        hashes: Counter[tuple[object, ...]] = Counter()
        done = threading.Event()

        def produce() -> None:
            nonlocal produced
            producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 10,
                                 "enable.idempotence": True, "batch.size": 1 << 20})
            shape = p.Shape(days=max(1, min(7, events // 1_000_000)))  # ~60k events/hour
            for chunk in p.generate(events, seed=7, chunk=20_000, shape=shape):
                for key, value in chunk:
                    while True:
                        try:
                            producer.produce(TOPIC, value, key)
                            break
                        except BufferError:
                            producer.poll(0.05)
                values = [v for _, v in chunk]
                hashes.update(_content(p.decode_batch(TOPIC, 0, list(range(len(values))),
                                                      values, [0] * len(values))))
                producer.poll(0)
                produced += len(chunk)
            producer.flush(120)
            done.set()

        started = time.perf_counter()
        flowing = threading.Thread(target=produce, daemon=True)
        flowing.start()
        lake = p.Lake(root / "lake")
        with ctx.step("kill -9 the ingester while events flow", total=kills) as step:
            for i in range(kills):
                child = _ingester(broker.bootstrap, root, ctx.work_dir / "ingest.log",
                                  batch).spawn()
                before = lake.manifest()["version"]
                if i % 2:
                    deadline = time.monotonic() + 60
                    while (lake.manifest()["version"] == before and child.alive
                           and time.monotonic() < deadline):
                        time.sleep(0.02)
                    time.sleep(rng.uniform(0.0, 0.5))
                else:
                    time.sleep(rng.uniform(0.5, 3.0))
                child.kill()
                version = lake.manifest()["version"]
                timeline.append((time.perf_counter() - started, version, version > before))
                step.advance()
        flowing.join()
        with ctx.step("last ingest, until caught up"):
            last = _ingester(broker.bootstrap, root, ctx.work_dir / "ingest.log", batch,
                             "--until-idle").spawn()
            last.wait(3600)
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "lab"})
        ends = {q: consumer.get_watermark_offsets(TopicPartition(TOPIC, q), 10)[1]
                for q in range(PARTITIONS)}
        consumer.close()
        with ctx.step("check the lake against the log"):
            table = p.read_table(lake.paths())
            positions = Counter(zip(table.column("partition").to_pylist(),
                                    table.column("offset").to_pylist(), strict=True))
            duplicates = sum(c - 1 for c in positions.values() if c > 1)
            losses = sum(1 for q, end in ends.items() for o in range(end)
                         if (q, o) not in positions)
            got = _content(table)
            content_missing = sum((hashes - got).values())
            content_extra = sum((got - hashes).values())
        mid_flow = sum(1 for _, _, hit in timeline if hit)
        rows += [["ingest", "events on the log", produced, "events"],
                 ["ingest", "kill -9 of the ingester", kills, f"{mid_flow} while writing"],
                 ["lake", "rows in the lake", table.num_rows, "rows"],
                 ["lake", "duplicates by (partition, offset)", duplicates, "rows"],
                 ["lake", "losses by (partition, offset)", losses, "rows"],
                 ["lake", "row-hash differences (missing + extra)",
                  content_missing + content_extra, "rows"],
                 ["lake", "files / MB", len(lake.files()),
                  f"{sum(f.bytes for f in lake.files()) / 1e6:.1f} MB"]]

        # A clean ingest of the same log, timed: the stage's speed.
        clean_lake = p.Lake(ctx.work_dir / "clean" / "lake")
        with ctx.step("a clean ingest, timed"):
            stats = p.Ingester(broker.bootstrap, clean_lake, group="lab-clean",
                               batch=100_000).run(until_idle=True, idle_s=0.5)
        rows.append(["ingest", "clean run (librdkafka → Parquet)", round(stats.per_second),
                     "events/s"])

    paths = lake.paths()
    speed: dict[str, float] = {}
    digests: dict[str, tuple[int, str]] = {}
    engines: list[tuple[str, Any]] = [("DuckDB", p.prepare_duckdb),
                                      ("pandas/pyarrow", p.prepare_pandas)]
    with ctx.step("prepare on each engine", total=len(engines) + dask) as step:
        for name, fn in engines:
            t0 = time.perf_counter()
            digests[name] = p.digest(fn(paths))
            speed[name] = time.perf_counter() - t0
            step.advance()
        if dask:
            with p.dask_client(workers=2) as client:
                t0 = time.perf_counter()
                digests["Dask (2 workers)"] = p.digest(p.prepare_dask(paths, client))
                speed["Dask (2 workers)"] = time.perf_counter() - t0
            step.advance()
    same = len(set(digests.values())) == 1
    for name, seconds in speed.items():
        rows.append(["prepare", f"{name}: {digests[name][0]:,} rows", round(seconds, 3),
                     f"s ({produced / seconds:,.0f} events/s)"])
    rows.append(["prepare", "digests equal across engines", same, ""])

    wh_path = root / "warehouse.duckdb"
    with ctx.step("warehouse: kill -9 during loads, then finish"):
        for i in range(load_kills):
            loader = Child([sys.executable, "-m", "bazaar.commands.pipeline", "warehouse",
                            "--dir", str(root)], name="loader",
                           log=ctx.work_dir / "load.log").spawn()
            time.sleep(rng.uniform(load_window / 4, load_window) * (i + 1))
            loader.kill()
        with p.Warehouse(wh_path) as wh:
            load = wh.load(lake)
            interrupted = wh.digest()
    with p.Warehouse(ctx.work_dir / "clean.duckdb") as clean:
        full = clean.load(lake)
        clean_digest = clean.digest()
    rows += [["warehouse", "load of the whole lake", round(full.seconds, 3),
              f"s ({full.facts_added:,} facts)"],
             ["warehouse", f"after {load_kills} kill -9 during loads: equal to a clean load",
              interrupted == clean_digest, f"last load added {load.facts_added:,}"]]

    board = p.Dashboard(p.DashboardConfig(warehouse=ctx.work_dir / "clean.duckdb"))
    queries = sorted(board.summary()["query_ms"] for _ in range(5))
    board.warehouse.close()
    rows.append(["presentation", "dashboard summary (5 queries), median", queries[2], "ms"])

    held = duplicates == 0 and losses == 0 and content_missing + content_extra == 0 \
        and same and interrupted == clean_digest
    verdict = (f"{'Held' if held else 'Did not hold'}: {kills} kill -9 of the ingester "
               f"({mid_flow} while it was writing) over {produced:,} events left "
               f"{duplicates} duplicates and {losses} losses by offset, "
               f"{content_missing + content_extra} by row hash; DuckDB, pandas and Dask "
               f"prepared {'identical' if same else 'DIFFERENT'} rows; the warehouse after "
               f"kills {'equals' if interrupted == clean_digest else 'DIFFERS from'} a clean "
               "one.")
    summary = {"events": produced, "kills": kills, "kills_mid_flow": mid_flow,
               "duplicates": duplicates, "losses": losses,
               "row_hash_differences": content_missing + content_extra,
               "ingest_events_per_s": round(stats.per_second),
               "prepare_s": {k: round(v, 3) for k, v in speed.items()},
               "digests_equal": same, "warehouse_equal_after_kills": interrupted == clean_digest,
               "warehouse_load_s": round(full.seconds, 3),
               "dashboard_query_ms": queries[2]}
    notes = [f"{PARTITIONS} log partitions, ingester batches of {batch:,} records; the "
             "ingester was killed half the time at a random moment after start (0.5-3 s), "
             "half the time just after it committed a batch (0-0.5 s later).",
             "The clean ingest (a second consumer group over the same log) is the timed one; "
             "it includes joining the group.",
             "Speeds are on 2 shared cores; Dask's include the LocalCluster's start."]

    def plot(fig: Figure) -> None:
        left, right = fig.subplots(1, 2)
        xs = [t for t, _, _ in timeline]
        left.step(xs, [v for _, v, _ in timeline], where="post", color="grey")
        left.scatter([t for t, _, h in timeline if h], [v for _, v, h in timeline if h],
                     color="red", label="kill while writing", zorder=3)
        left.scatter([t for t, _, h in timeline if not h], [v for _, v, h in timeline if not h],
                     color="orange", label="kill elsewhere", zorder=3)
        left.set_xlabel("seconds")
        left.set_ylabel("lake manifest version")
        left.set_title(f"{kills} kill -9: {duplicates} dup, {losses} lost")
        left.legend(fontsize=8)
        names = list(speed)
        right.barh(names, [produced / speed[n] for n in names])
        right.set_xlabel("events/s prepared")
        right.set_title("same preparation, same rows" if same else "rows differ!")

    return Report(columns=["stage", "measure", "value", "unit"], rows=rows, verdict=verdict,
                  summary=summary, notes=notes, plot=plot)


EXPERIMENT = Experiment(
    name="big-data-pipeline",
    title="Big data pipeline: five stages, exactly once under kill -9",
    explainer="Which cloud provider should be used when building a big data solution?",
    claim=("The same five stages — ingestion, data lake, preparation, warehouse, presentation "
           "— run on one machine (DuckDB) and on a cluster (Dask) over the same lake, and a "
           "crash anywhere neither loses nor duplicates an event."),
    run=run,
)

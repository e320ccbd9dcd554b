"""``bazaar pipeline``: ingest the shop's events into the lake, prepare, load the warehouse,
serve the dashboard, and see where each stage stands."""

from __future__ import annotations

import enum
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from bazaar.commands._output import JSON, Col, emit_json, emit_table

if TYPE_CHECKING:
    from bazaar.pipeline import Lake

app = typer.Typer(help="Big data pipeline: log → Parquet lake → preparation → DuckDB "
                       "warehouse → /dashboard, exactly once.", no_args_is_help=True)
BOOTSTRAP = typer.Option(None, "--bootstrap", help="Kafka bootstrap (default: "
                                                   "BAZAAR_KAFKA_BOOTSTRAP, else 127.0.0.1:9092).")
ROOT = typer.Option(None, "--dir", help="The pipeline's directory (default: DATA_DIR/pipeline).")
TOPICS = typer.Option(["shop.events"], "--topic", help="Topics to ingest (repeatable).")


class Engine(enum.StrEnum):
    duckdb = "duckdb"
    dask = "dask"
    pandas = "pandas"


def _root(root: Path | None) -> Path:
    if root is not None:
        return root
    from bazaar.config import Settings

    return Settings().data_dir / "pipeline"


def _bootstrap(bootstrap: str | None) -> str:
    if bootstrap:
        return bootstrap
    from bazaar.config import Settings

    return Settings().kafka_bootstrap or "127.0.0.1:9092"


def _lake(root: Path | None) -> Lake:
    from bazaar.pipeline import Lake

    return Lake(_root(root) / "lake")


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def _progress(quiet: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), disable=quiet or not sys.stderr.isatty(),
                    console=None)


@app.command()
def generate(count: int = typer.Argument(..., min=1, max=10**9, help="How many events."),
             bootstrap: str | None = BOOTSTRAP, topic: str = "shop.events",
             seed: int = typer.Option(0, help="Same seed, same events."),
             days: int = typer.Option(7, min=1, max=3650, help="Days the events span."),
             to_lake: bool = typer.Option(False, "--to-lake", help="Write straight into the "
                                          "lake (no log), for scale tests."),
             root: Path | None = ROOT, as_json: bool = JSON) -> None:
    """Produce a synthetic shop's events (views, carts, orders, stock) to the log."""
    from bazaar.pipeline import PipelineError, Shape
    from bazaar.pipeline import generate as events

    started, made = time.perf_counter(), 0
    shape = Shape(days=days)
    try:
        with _progress(as_json) as progress:
            task = progress.add_task(f"generate → {'lake' if to_lake else topic}", total=count)
            if to_lake:
                made = _generate_to_lake(_lake(root), count, seed, shape, topic,
                                         lambda k: progress.advance(task, k))
            else:
                made = _produce(_bootstrap(bootstrap), topic,
                                events(count, seed=seed, shape=shape),
                                lambda k: progress.advance(task, k))
    except PipelineError as exc:
        raise _fail(exc) from exc
    seconds = time.perf_counter() - started
    result = {"events": made, "seconds": round(seconds, 3),
              "per_second": round(made / seconds) if seconds else 0}
    if as_json:
        return emit_json(result)
    typer.echo(f"{made:,} events in {seconds:.1f}s ({result['per_second']:,}/s)")


def _produce(bootstrap: str, topic: str, chunks: Any, advance: Any) -> int:
    from confluent_kafka import KafkaException, Producer

    from bazaar.pipeline import IngestError

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                         "batch.size": 1 << 20, "enable.idempotence": True,
                         "queue.buffering.max.messages": 1_000_000})
    made = 0
    try:
        for chunk in chunks:
            for key, value in chunk:
                while True:
                    try:
                        producer.produce(topic, value, key)
                        break
                    except BufferError:
                        producer.poll(0.05)
            producer.poll(0)
            made += len(chunk)
            advance(len(chunk))
        if producer.flush(60):
            raise IngestError(f"{bootstrap}: messages still unsent after 60 s")
    except KafkaException as exc:
        raise IngestError(f"produce to {bootstrap}: {exc}") from exc
    return made


def _generate_to_lake(lake: Lake, count: int, seed: int, shape: Any, topic: str,
                      advance: Any) -> int:
    from bazaar.pipeline import decode_batch
    from bazaar.pipeline import generate as events

    start = lake.next_offset(topic, 0) or 0
    made = 0
    for chunk in events(count, seed=seed, shape=shape, chunk=100_000):
        values = [v for _, v in chunk]
        offsets = list(range(start + made, start + made + len(values)))
        lake.write_batch(topic, 0, offsets[0], offsets[-1],
                         decode_batch(topic, 0, offsets, values, [0] * len(values)))
        made += len(values)
        advance(len(values))
    return made


@app.command()
def ingest(bootstrap: str | None = BOOTSTRAP, topics: list[str] = TOPICS,
           group: str = typer.Option("bazaar-pipeline", help="Consumer group."),
           batch: int = typer.Option(100_000, min=1, max=10_000_000,
                                     help="Records per lake file (per log partition)."),
           until_idle: bool = typer.Option(False, "--until-idle",
                                           help="Stop once caught up (default: run on)."),
           session_timeout_ms: int = typer.Option(10_000, min=1_000, max=300_000,
                                                  help="Consumer group session timeout."),
           root: Path | None = ROOT, as_json: bool = JSON) -> None:
    """Consume the log into the lake, exactly once (offsets follow the lake's manifest)."""
    from bazaar.pipeline import Ingester, PipelineError

    with _progress(as_json) as progress:
        task = progress.add_task("ingest", total=None)

        def on_batch(stats: Any) -> None:
            progress.update(task, completed=stats.records,
                            description=f"ingest: {stats.files} files")

        try:
            stats = Ingester(_bootstrap(bootstrap), _lake(root), topics=topics, group=group,
                             batch=batch, on_batch=on_batch,
                             session_timeout_ms=session_timeout_ms).run(until_idle=until_idle)
        except PipelineError as exc:
            raise _fail(exc) from exc
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
    if as_json:
        return emit_json(stats)
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in stats.steps.items())
    typer.echo(f"{stats.records:,} records → {stats.files} files in {stats.seconds:.1f}s "
               f"({stats.per_second:,.0f}/s; {stats.per_second_reading:,.0f}/s once records "
               f"flowed: {steps}); {stats.orphans_removed} leftovers removed")


@app.command()
def compact(min_files: int = typer.Option(4, min=2), root: Path | None = ROOT,
            as_json: bool = JSON) -> None:
    """Merge each lake partition's small files into one."""
    replaced = _lake(root).compact(min_files=min_files)
    if as_json:
        return emit_json({"replaced": replaced})
    typer.echo(f"{replaced} small files merged")


@app.command()
def prepare(engine: Engine = typer.Option(Engine.duckdb, help="Where the steps run."),
            scheduler: str | None = typer.Option(None, help="A Dask scheduler, e.g. "
                                                 "tcp://host:8786 (default: a LocalCluster)."),
            workers: int = typer.Option(2, min=1, max=64, help="LocalCluster workers."),
            out: Path | None = typer.Option(None, help="Write the prepared rows as Parquet."),
            root: Path | None = ROOT, as_json: bool = JSON) -> None:
    """Clean, normalise, deduplicate and sessionise the lake; print rows and their digest."""
    import pyarrow.parquet as pq

    from bazaar import pipeline as p

    paths = _lake(root).paths()
    if not paths:
        raise _fail(p.LakeError("the lake is empty: run `bazaar pipeline ingest` first"))
    started = time.perf_counter()
    try:
        if engine is Engine.dask:
            with p.dask_client(scheduler, workers=workers) as client:
                table = p.prepare_dask(paths, client)
        elif engine is Engine.pandas:
            table = p.prepare_pandas(paths)
        else:
            table = p.prepare_duckdb(paths)
    except p.PipelineError as exc:
        raise _fail(exc) from exc
    seconds = time.perf_counter() - started
    rows, sha = p.digest(table)
    if out is not None:
        pq.write_table(table, out)
    result = {"engine": engine.value, "files": len(paths), "rows": rows, "digest": sha,
              "seconds": round(seconds, 3)}
    if as_json:
        return emit_json(result)
    typer.echo(f"{engine.value}: {rows:,} rows from {len(paths)} files in {seconds:.2f}s, "
               f"digest {sha}")


@app.command()
def warehouse(root: Path | None = ROOT, as_json: bool = JSON) -> None:
    """Load the lake's new files into the DuckDB warehouse (incremental, idempotent)."""
    from bazaar.pipeline import PipelineError, Warehouse

    try:
        with Warehouse(_root(root) / "warehouse.duckdb") as wh:
            stats = wh.load(_lake(root))
            counts = wh.counts()
    except PipelineError as exc:
        raise _fail(exc) from exc
    if as_json:
        return emit_json({"load": asdict(stats), "tables": counts})
    typer.echo(f"{stats.files} new files, {stats.rows_in:,} prepared rows, "
               f"{stats.facts_added:,} new facts in {stats.seconds:.2f}s")


@app.command()
def run(bootstrap: str | None = BOOTSTRAP, topics: list[str] = TOPICS,
        root: Path | None = ROOT, as_json: bool = JSON) -> None:
    """Every batch stage once: ingest until caught up, compact, load the warehouse."""
    from bazaar.pipeline import Ingester, PipelineError, Warehouse

    lake = _lake(root)
    try:
        with _progress(as_json) as progress:
            task = progress.add_task("ingest", total=None)
            stats = Ingester(_bootstrap(bootstrap), lake, topics=topics, on_batch=lambda s:
                             progress.update(task, completed=s.records)).run(until_idle=True)
        replaced = lake.compact()
        with Warehouse(_root(root) / "warehouse.duckdb") as wh:
            load = wh.load(lake)
    except PipelineError as exc:
        raise _fail(exc) from exc
    result = {"ingest": stats, "compacted": replaced, "load": load}
    if as_json:
        return emit_json(result)
    typer.echo(f"ingest: {stats.records:,} records, {stats.files} files; compacted "
               f"{replaced}; warehouse: {load.facts_added:,} new facts")


@app.command()
def dashboard(bootstrap: str | None = BOOTSTRAP,
              host: str = typer.Option("127.0.0.1", help="Listen address."),
              port: int = typer.Option(8400, min=1, max=65535, help="Listen port."),
              refresh_s: float = typer.Option(5.0, min=0.2, max=3600,
                                              help="Seconds between warehouse loads."),
              low_stock: int = typer.Option(10, help="Alert when a product's stock falls "
                                                      "under this."),
              spike_orders: int = typer.Option(500, min=1, help="Alert on more order lines "
                                               "than this within --spike-window-s."),
              spike_window_s: float = typer.Option(10.0, min=0.1, max=3600),
              alerts: bool = typer.Option(True, help="Watch the log for live alerts."),
              root: Path | None = ROOT) -> None:
    """Serve /dashboard: charts from the warehouse (loaded from the lake as it grows) and
    live alerts from the log."""
    from bazaar.pipeline import DashboardConfig, PipelineError, Rules, serve_dashboard

    base = _root(root)
    config = DashboardConfig(warehouse=base / "warehouse.duckdb", lake=base / "lake",
                             bootstrap=_bootstrap(bootstrap) if alerts else None,
                             refresh_s=refresh_s,
                             rules=Rules(low_stock=low_stock, spike_orders=spike_orders,
                                         spike_window_s=spike_window_s))
    typer.echo(f"dashboard on http://{host}:{port}/dashboard", err=True)
    try:
        serve_dashboard(config, host=host, port=port)
    except PipelineError as exc:
        raise _fail(exc) from exc


@app.command()
def status(root: Path | None = ROOT, as_json: bool = JSON) -> None:
    """The lake's files and offsets per partition, and the warehouse's tables."""
    from bazaar.pipeline import PipelineError, Warehouse

    lake = _lake(root)
    try:
        manifest = lake.manifest()
        files = lake.files()
        by_type: dict[str, list[int]] = {}
        for f in files:  # a file holds one batch's types; its bytes are shared by rows
            for kind, rows in f.types.items():
                counts = by_type.setdefault(kind, [0, 0, 0])
                counts[0] += 1
                counts[1] += rows
                counts[2] += f.bytes * rows // max(f.rows, 1)
        wh_path = _root(root) / "warehouse.duckdb"
        tables: dict[str, int] = {}
        pending = None
        if wh_path.exists():
            with Warehouse(wh_path) as wh:
                tables, pending = wh.counts(), len(wh.pending(lake))
    except PipelineError as exc:
        raise _fail(exc) from exc
    result = {"lake": str(lake.root), "manifest_version": manifest["version"],
              "offsets": manifest["offsets"],
              "types": {k: {"files": v[0], "rows": v[1], "bytes": v[2]}
                        for k, v in sorted(by_type.items())},
              "warehouse": str(wh_path), "tables": tables, "files_not_loaded": pending}
    if as_json:
        return emit_json(result)
    emit_table([Col("partition", whole=True), Col("next offset")],
               sorted(manifest["offsets"].items()), title="ingested (lake manifest)")
    emit_table([Col("type", whole=True), Col("files"), Col("rows"), Col("MB")],
               ([k, v[0], v[1], f"{v[2] / 1e6:.1f}"] for k, v in sorted(by_type.items())),
               title="lake")
    emit_table([Col("table", whole=True), Col("rows")], sorted(tables.items()),
               title=f"warehouse ({pending} lake files not loaded)" if tables
               else "warehouse (not built)")


if __name__ == "__main__":  # `python -m bazaar.commands.pipeline`: no other groups loaded
    app()

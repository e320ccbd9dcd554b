"""``bazaar flow``: run the orchestrator and inspect, steer and explain executions."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from bazaar.commands._output import JSON, Col, emit_json, emit_table

app = typer.Typer(help="The saga orchestrator: serve it, register workflows, inspect and steer "
                       "executions.", no_args_is_help=True)
T = TypeVar("T")
URL = typer.Option(None, "--url", help="Orchestrator URL (default: BAZAAR_FLOW_URL).")


def _url(url: str | None) -> str:
    if url:
        return url
    from bazaar.config import Settings

    return Settings().flow_url


def _call(url: str | None, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run one client call; print a clean message for flow errors."""
    from bazaar.flow import FlowError
    from bazaar.flow.orchestrator import FlowClient

    async def run() -> T:
        async with FlowClient(_url(url)) as client:
            return await fn(client)

    try:
        return asyncio.run(run())
    except FlowError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(stamp)) + f".{int(stamp * 1000) % 1000:03d}"


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(None, help="Port (default: BAZAAR_FLOW_PORT, 8300)."),
    db: str = typer.Option(None, "--database-url", "--db",
                           help="SQLAlchemy URL of the store (default: BAZAAR_FLOW_DATABASE_URL, "
                                "else data_dir/flow.db)."),
    limit: list[str] = typer.Option([], "--limit", help="QUEUE=N: at most N in progress."),
    register: list[Path] = typer.Option([], "--register", help="Definition files to register."),
    threads: int = typer.Option(None, help="DB threads (default 0 for SQLite, 4 otherwise)."),
    sync: str = typer.Option("NORMAL", help="SQLite synchronous: NORMAL or FULL."),
    kafka: str = typer.Option(None, "--kafka", help="host:port of the log for EVENT tasks "
                                                    "(default: BAZAAR_KAFKA_BOOTSTRAP)."),
    event_topic: list[str] = typer.Option([], "--event-topic",
                                          help="A topic EVENT waits listen on."),
) -> None:
    """Run the orchestrator: HTTP API, long-polling workers, sweeper, system workers."""
    from bazaar.config import Settings
    from bazaar.flow.orchestrator import ServerConfig
    from bazaar.flow.orchestrator import serve as run_server

    settings = Settings()
    url = db or settings.flow_database_url
    if url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{(settings.data_dir / 'flow.db').resolve()}"
    limits: dict[str, int] = {}
    for item in limit:
        queue, _, n = item.partition("=")
        if not n.isdigit():
            raise typer.BadParameter(f"--limit wants QUEUE=N, got {item!r}")
        limits[queue] = int(n)
    config = ServerConfig(database_url=url, host=host, port=port or settings.flow_port,
                          concurrency_limits=limits, db_threads=threads,
                          sqlite_synchronous=sync, definitions=tuple(register),
                          kafka_bootstrap=kafka or settings.kafka_bootstrap,
                          event_topics=tuple(event_topic))
    from bazaar.telemetry import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    from bazaar.processes import DirLocked

    typer.echo(f"orchestrator on http://{config.host}:{config.port} (store: {url})")
    try:
        run_server(config)  # one orchestrator per SQLite store
    except DirLocked as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


async def _register_one(client: Any, body: bytes) -> dict[str, Any]:
    result: dict[str, Any] = await client.register(body)
    return result


@app.command("register")
def register_(files: list[Path] = typer.Argument(..., help="JSON or YAML definitions."),
              url: str = URL) -> None:
    """Validate and register workflow definitions (a new version for every change)."""
    for path in files:
        done = _call(url, functools.partial(_register_one, body=path.read_bytes()))
        typer.echo(f"registered {done['name']} version {done['version']}")


@app.command()
def start(name: str, input: str = typer.Option("{}", "--input", help="JSON input."),
          key: str = typer.Option(None, "--key", help="Idempotency key."),
          url: str = URL) -> None:
    """Start an execution."""
    result = _call(url, lambda c: c.start(name, json.loads(input), idempotency_key=key))
    typer.echo(f"{result['id']} {'started' if result['created'] else 'already exists'}")


@app.command("ls")
def list_(status: str = typer.Option(None, help="RUNNING, COMPLETED, FAILED, …"),
          name: str = typer.Option(None, help="Workflow name."),
          limit: int = typer.Option(30), url: str = URL, as_json: bool = JSON) -> None:
    """List recent executions."""
    rows = _call(url, lambda c: c.executions(status=status, name=name, limit=limit))
    if as_json:
        return emit_json(rows)
    emit_table([Col("id", whole=True), Col("workflow", whole=True), Col("status"),
                Col("started"), Col("ended"), Col("reason")],
               ([r["id"], f"{r['name']} v{r['version']}", r["status"], _when(r["created_at"]),
                 _when(r["ended_at"]), r["reason"] or ""] for r in rows))


@app.command()
def show(execution_id: str, as_json: bool = JSON, url: str = URL) -> None:
    """One execution: status, why it is where it is, and every attempt of every task."""
    from rich.console import Console
    from rich.table import Table

    data = _call(url, lambda c: c.execution(execution_id))
    if as_json:
        return emit_json(data)
    console = Console()
    console.print(f"[bold]{data['id']}[/bold] {data['name']} v{data['version']} "
                  f"[bold]{data['status']}[/bold]")
    if data["reason"]:
        console.print(f"reason: {data['reason']}")
    for line in data["why"]:
        console.print(f"[yellow]why:[/yellow] {line}")
    table = Table("step", "try", "status", "worker", "ran", "n")
    table.add_column("error / output", overflow="fold")
    for t in data["tasks"]:
        step = t["ref"] + (" (undo)" if t["kind"] == "compensation" else "")
        ran = (f"{t['ended_at'] - t['started_at']:.2f}s"
               if t["ended_at"] and t["started_at"] else _when(t["started_at"]))
        detail = t["error"] or (json.dumps(t["output"]) if t["output"] is not None else "")
        table.add_row(step, str(t["attempt"]), t["status"], t["worker_id"] or "", ran,
                      str(t["deliveries"]), detail)
    console.print(table)
    for note in data["notes"]:
        console.print(f"[dim]· {note}[/dim]")


def _control(action: str) -> Callable[..., None]:
    def command(execution_id: str, url: str = URL,
                reason: str = typer.Option(None, help="Why (terminate only).")) -> None:
        result = _call(url, lambda c: c.control(execution_id, action, reason))
        typer.echo(f"{result['id']} {result['status']}")

    command.__doc__ = {
        "terminate": "Stop an execution now (queued and running tasks are canceled).",
        "retry": "Resume a FAILED or TERMINATED execution from where it stopped.",
        "pause": "Hold an execution: nothing new is dispatched.",
        "resume": "Release a paused execution.",
    }[action]
    return command


for _action in ("terminate", "retry", "pause", "resume"):
    app.command(_action)(_control(_action))


@app.command()
def signal(execution_id: str, ref: str,
           output: str = typer.Option("{}", "--output", help="JSON output for the task."),
           url: str = URL) -> None:
    """Complete a WAIT task from outside."""
    _call(url, lambda c: c.signal(execution_id, ref, json.loads(output)))
    typer.echo("ok")


@app.command()
def queues(url: str = URL, as_json: bool = JSON) -> None:
    """Task queues: depth, in progress, concurrency limit, last poll."""
    data = _call(url, lambda c: c.queues())
    if as_json:
        return emit_json(data)
    emit_table([Col("queue", whole=True), Col("scheduled"), Col("in progress"), Col("limit"),
                Col("last poll"), Col("by", whole=True)],
               ([name, q["scheduled"], q["in_progress"], q["limit"] or "-",
                 _when(q["last_poll"]), q["last_worker"] or "-"] for name, q in data.items()))


@app.command("trace")
def trace_(order_id: str,
           bootstrap: str = typer.Option(None, help="host:port of the log (default: "
                                                    "BAZAAR_KAFKA_BOOTSTRAP or the embedded "
                                                    "broker's port)."),
           as_json: bool = JSON) -> None:
    """A choreographed checkout's trace: which events, in which order, caused by what."""
    from bazaar.flow import FlowError
    from bazaar.flow.checkout.events import TOPIC
    from bazaar.flow.choreography import trace

    if bootstrap is None:
        from bazaar.config import Settings

        settings = Settings()
        bootstrap = settings.kafka_bootstrap or f"127.0.0.1:{settings.broker_port}"
    try:
        events = asyncio.run(trace(bootstrap, order_id, topic=TOPIC))
    except FlowError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not events:
        typer.echo(f"no events for order {order_id} on {bootstrap} (an orchestrated "
                   "checkout has none: see `bazaar flow ls --name checkout`)")
        raise typer.Exit(1)
    if as_json:
        return emit_json([{"event_id": e.event_id, "type": e.type, "at": e.at,
                           "source": e.source, "cause": e.cause, "data": e.data}
                          for e in events])
    start = events[0].at
    names = {e.event_id: e.type for e in events}
    rows = []
    for e in events:
        detail = e.data.get("reason") or e.data.get("shipment_id") or e.data.get(
            "charge_id") or ""
        rows.append([f"{(e.at - start) * 1000:.1f}", e.type, e.source or "-",
                     names.get(e.cause or "", "-"), str(detail)])
    emit_table([Col("+ms"), Col("event", whole=True), Col("by"), Col("caused by"),
                Col("detail", whole=True)], rows)


@app.command("shop-inventory")
def shop_inventory(concurrency: int = typer.Option(8, help="Tasks at once (orchestration).")
                   ) -> None:
    """Serve the shop's part of the checkout saga (its inventory steps and its order
    record), the way BAZAAR_CHECKOUT says: a worker of the orchestrator, or the inventory
    and orders roles on the log.

    The saga's other services run as their own processes, anywhere:
    ``python -m bazaar.flow.checkout orchestrated|choreography --role payment --dir DIR``
    (and shipping, notification)."""
    from bazaar import bootstrap
    from bazaar.config import Settings

    settings = Settings()
    typer.echo(f"the shop's checkout steps ({settings.checkout})")
    bootstrap.serve_checkout(settings, concurrency)

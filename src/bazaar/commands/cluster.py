"""``bazaar cluster``: start a scale-out topology, see it, stop it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bazaar.commands._output import JSON, Col, emit_json, emit_table

if TYPE_CHECKING:
    from bazaar.cluster import NodeStatus, Outcome
    from bazaar.config import Settings

app = typer.Typer(help="Scale-out topologies: single → split → cluster (nginx) → replicas; "
                       "destructive operations as plan → apply.",
                  no_args_is_help=True)

DATA_DIR = typer.Option(None, "--data-dir", help="Where local state lives (the cluster under "
                                                 "DATA_DIR/cluster).", show_default=".bazaar")


def _settings(data_dir: Path | None) -> Settings:
    from bazaar.commands.shop import settings_from

    return settings_from({"data_dir": "--data-dir"}, data_dir=data_dir)


@app.command("up")
def up(
    topology: str = typer.Argument(..., help="single, split, cluster, replicas or shards."),
    app_servers: int | None = typer.Option(None, "--app-servers", "-n",
                                           help="App server processes (cluster: 2)."),
    replicas: int | None = typer.Option(None, "--replicas", "-r",
                                        help="Streaming standbys (replicas: 2)."),
    shards: int | None = typer.Option(None, "--shards",
                                      help="Shard servers (shards: 2), 64 logical shards "
                                           "over them."),
    standby_delay_ms: int = typer.Option(
        0, "--standby-delay-ms", help="recovery_min_apply_delay of the last standby."),
    lb_workers: int = typer.Option(1, "--lb-workers", help="nginx worker processes."),
    replication: str = typer.Option(
        "async", "--replication",
        help="replicas: a commit is acknowledged once visible on all standbys (FIRST n), "
             "one (ANY 1), or on the primary alone (async)."),
    data_dir: Path | None = DATA_DIR,
    as_json: bool = JSON,
) -> None:
    """Start a topology: its PostgreSQL servers, app servers and nginx, each a process that
    keeps running after this command returns (`bazaar cluster down` stops them)."""
    from bazaar import cluster

    settings = _settings(data_dir)
    try:
        spec = cluster.spec_for(topology, app_servers, replicas, shards, standby_delay_ms,
                                lb_workers, replication)
        state = cluster.up(settings, spec, echo=(lambda _m: None) if as_json else typer.echo)
    except cluster.ClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        return emit_json({"topology": spec.topology, "entry": state.entry,
                          "nodes": state.nodes})
    if spec.topology == "shards":
        typer.echo(f"shards: {len(state.nodes)} nodes, {spec.logical_shards} logical shards; "
                   f"directory and inventory at {state.entry} (no app server yet: the shop's "
                   f"request path is not routed over the shards; logs in "
                   f"{cluster.cluster_dir(settings) / 'logs'})")
        return
    typer.echo(f"{spec.topology}: {len(state.nodes)} nodes; the shop at {state.entry}/ "
               f"(logs in {cluster.cluster_dir(settings) / 'logs'})")


@app.command("status")
def status(data_dir: Path | None = DATA_DIR, as_json: bool = JSON) -> None:
    """Every node: role, pid, address, running or dead, health, replication lag."""
    from bazaar import cluster

    settings = _settings(data_dir)
    try:
        state = cluster.load(settings)
    except cluster.ClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    nodes = cluster.status(state)
    if as_json:
        emit_json({"topology": state.spec.topology, "entry": state.entry,
                   "replication": state.spec.replication, "nodes": nodes})
    else:
        title = state.spec.topology + (f" (replication {state.spec.replication})"
                                       if state.spec.replicas else "")
        _table(title, state.entry, nodes)
    dead = [n.name for n in nodes if n.state != "running"]
    if dead:  # exit status 3, for scripts
        typer.echo(f"dead: {', '.join(dead)}", err=True)
        raise typer.Exit(3)


def _table(topology: str, entry: str, nodes: list[NodeStatus]) -> None:
    sharded = any(n.shards is not None for n in nodes)
    extra = [Col("logical shards", whole=True)] if sharded else []
    emit_table([Col("node", whole=True), Col("role"), Col("pid", whole=True),
                Col("address", whole=True), Col("state"), Col("health"), Col("lag"),
                Col("sync"), *extra, Col("log")],
               ([n.name, n.role, n.pid, n.address, n.state, n.health, _lag(n),
                 n.sync_state or "", *([_shards(n.shards)] if sharded else []), n.log]
                for n in nodes),
               title=f"{topology} at {entry}")


def _shards(shards: list[int] | None) -> str:
    """``32: 0 2 4 … 62`` (count, then the first and last few)."""
    if shards is None:
        return ""
    if len(shards) <= 8:
        return f"{len(shards)}: {' '.join(map(str, shards))}"
    return (f"{len(shards)}: {' '.join(map(str, shards[:4]))} … "
            f"{' '.join(map(str, shards[-2:]))}")


def _lag(n: NodeStatus) -> str:
    if n.lag_bytes is None:
        return "" if n.role != "standby" else "not streaming"
    return f"{n.lag_bytes} B" + (f", {n.lag_s * 1000:.1f} ms" if n.lag_s is not None else "")


@app.command("plan")
def plan(
    op: str = typer.Argument(..., help="remove-app, remove-replica or down "
                                       "(drop-shard: not built yet)."),
    selectors: list[str] | None = typer.Argument(
        None, help="Node names or globs (app-*). None is an error: say --all."),
    everything: bool = typer.Option(False, "--all", help="Every node the operation acts on."),
    allow_protected: bool = typer.Option(
        False, "--allow-protected",
        help="Let the plan include the current primary, the last replica, the last app server."),
    ttl: float = typer.Option(900.0, "--ttl", help="Seconds the plan stays valid (1..86400)."),
    data_dir: Path | None = DATA_DIR,
    as_json: bool = JSON,
) -> None:
    """Show the exact nodes a destructive operation will act on and save that as a plan
    (DATA_DIR/cluster/plans/ID.json); nothing is changed. `bazaar cluster apply ID` then acts
    on exactly those nodes — if none of them changed meanwhile — once."""
    from bazaar import cluster

    settings = _settings(data_dir)
    try:
        made = cluster.plan(settings, op, selectors or [], everything, allow_protected, ttl)
    except cluster.ClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        return emit_json({**made.to_json(), "lines": made.lines})
    what = "--all" if made.all else " ".join(made.selectors)
    typer.echo(f"plan {made.id}: {made.op} {what} — {len(made.targets)} node(s), valid until "
               f"{_utc(made.expires)}")
    for line in made.lines:
        typer.echo(f"  {line}")
    typer.echo(f"apply exactly this, once: bazaar cluster apply {made.id}")


def _utc(ts: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


@app.command("apply")
def apply(
    plan_id: str = typer.Argument(..., help="The id `bazaar cluster plan` printed."),
    data_dir: Path | None = DATA_DIR,
    as_json: bool = JSON,
) -> None:
    """Act on exactly the nodes of a saved plan, logging the lines the plan showed. Refused,
    changing nothing (exit 4), if a planned node changed, the plan expired, the cluster was
    started again, or the plan was applied before; changes to other nodes are no reason."""
    from bazaar import cluster

    settings = _settings(data_dir)
    try:
        _, outcome = cluster.apply(settings, plan_id,
                                   echo=(lambda _m: None) if as_json else typer.echo)
    except cluster.PlanRefused as exc:
        if as_json:
            emit_json({"plan_id": exc.plan_id, "result": "refused", "done": [],
                       "skipped": [], "reasons": exc.reasons})
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(4) from exc
    except cluster.ClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    _outcome(outcome, as_json)


def _outcome(outcome: Outcome, as_json: bool) -> None:
    if as_json:
        emit_json(outcome)
    else:
        typer.echo(f"{outcome.result}: plan {outcome.plan_id}, {len(outcome.done)} node(s) "
                   + (f"done, left alone (changed): {', '.join(outcome.skipped)}"
                      if outcome.skipped else "done"))
    if outcome.result != "applied":
        raise typer.Exit(5)


@app.command("reshard")
def reshard(
    logical: int = typer.Argument(..., help="The logical shard to move (0..63)."),
    to: str = typer.Option(..., "--to", help="The shard server to move it to: an existing "
                                             "one, or a new pg-shard-N (started first)."),
    stop_after: str | None = typer.Option(
        None, "--stop-after", help="copy or prepare: stop there as a crash would, to see "
                                   "that running the command again settles it."),
    data_dir: Path | None = DATA_DIR,
    as_json: bool = JSON,
) -> None:
    """Move one logical shard to another server online: copy (logical replication), catch
    up, switch (writes to that shard pause, measured), with a row-hash check that both
    servers hold the same rows. Safe to run again after a crash at any point."""
    from dataclasses import asdict

    from bazaar import cluster

    settings = _settings(data_dir)
    try:
        report = cluster.reshard(settings, logical, to,
                                 echo=(lambda _m: None) if as_json else typer.echo,
                                 stop_after=stop_after)
    except cluster.ClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        return emit_json(asdict(report))
    if report.result == "already-there":
        typer.echo(f"shard {logical} is on {report.target} already; nothing moved")
        return
    rows = sum(n for n, _ in report.tables.values())
    typer.echo(f"moved shard {logical}: {report.source} → {report.target}; copy "
               f"{report.copy_s:.2f} s; write pause {report.pause_ms:.0f} ms (of it catch-up "
               f"{report.catch_up_ms:.0f} ms); row-hash check after the switch "
               f"{report.hash_ms:.0f} ms: {rows} rows in {len(report.tables)} tables, "
               "hashes equal on both servers")


@app.command("list")
def list_rows(
    table: str = typer.Argument(..., help="users, orders or reservations."),
    limit: int = typer.Option(20, "--limit", help="How many (1..1000)."),
    data_dir: Path | None = DATA_DIR,
    as_json: bool = JSON,
) -> None:
    """The newest rows of a user-owned table across every logical shard of a `shards`
    cluster, newest first: each shard's sorted stream, merged."""
    from bazaar import cluster
    from bazaar.cluster.sharded import LISTED, newest

    settings = _settings(data_dir)
    try:
        rows = newest(cluster.load(settings), table, limit)
    except cluster.ClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        return emit_json({"table": table, "rows": rows})
    names = [*LISTED[table], "shard", "server"]
    emit_table([Col(n, whole=True) for n in names],
               ([row[n] for n in names] for row in rows), title=f"newest {table}")


@app.command("down")
def down(data_dir: Path | None = DATA_DIR, as_json: bool = JSON) -> None:
    """Stop every node (balancer first, primary last) and delete the cluster's databases;
    the logs stay. A shortcut for `plan down --all --allow-protected` and its apply: the
    plan is made, shown and saved, and that same plan is applied at once."""
    from bazaar import cluster

    settings = _settings(data_dir)
    try:
        _, outcome = cluster.down(settings, echo=(lambda _m: None) if as_json else typer.echo)
    except cluster.ClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    _outcome(outcome, as_json)

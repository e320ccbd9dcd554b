"""``bazaar cluster``: start a scale-out topology, see it, stop it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bazaar.commands._output import JSON, Col, emit_json, emit_table

if TYPE_CHECKING:
    from bazaar.cluster import NodeStatus
    from bazaar.config import Settings

app = typer.Typer(help="Scale-out topologies: single → split → cluster (nginx) → replicas.",
                  no_args_is_help=True)

DATA_DIR = typer.Option(None, "--data-dir", help="Where local state lives (the cluster under "
                                                 "DATA_DIR/cluster).", show_default=".bazaar")


def _settings(data_dir: Path | None) -> Settings:
    from bazaar.commands.shop import settings_from

    return settings_from({"data_dir": "--data-dir"}, data_dir=data_dir)


@app.command("up")
def up(
    topology: str = typer.Argument(..., help="single, split, cluster or replicas."),
    app_servers: int | None = typer.Option(None, "--app-servers", "-n",
                                           help="App server processes (cluster: 2)."),
    replicas: int | None = typer.Option(None, "--replicas", "-r",
                                        help="Streaming standbys (replicas: 2)."),
    shards: int | None = typer.Option(None, "--shards", help="Not built yet."),
    standby_delay_ms: int = typer.Option(
        0, "--standby-delay-ms", help="recovery_min_apply_delay of the last standby."),
    lb_workers: int = typer.Option(1, "--lb-workers", help="nginx worker processes."),
    data_dir: Path | None = DATA_DIR,
    as_json: bool = JSON,
) -> None:
    """Start a topology: its PostgreSQL servers, app servers and nginx, each a process that
    keeps running after this command returns (`bazaar cluster down` stops them)."""
    from bazaar import cluster

    settings = _settings(data_dir)
    try:
        spec = cluster.spec_for(topology, app_servers, replicas, shards, standby_delay_ms,
                                lb_workers)
        state = cluster.up(settings, spec, echo=(lambda _m: None) if as_json else typer.echo)
    except cluster.ClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        return emit_json({"topology": spec.topology, "entry": state.entry,
                          "nodes": state.nodes})
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
        emit_json({"topology": state.spec.topology, "entry": state.entry, "nodes": nodes})
    else:
        _table(state.spec.topology, state.entry, nodes)
    dead = [n.name for n in nodes if n.state != "running"]
    if dead:  # exit status 3, for scripts
        typer.echo(f"dead: {', '.join(dead)}", err=True)
        raise typer.Exit(3)


def _table(topology: str, entry: str, nodes: list[NodeStatus]) -> None:
    emit_table([Col("node", whole=True), Col("role"), Col("pid", whole=True),
                Col("address", whole=True), Col("state"), Col("health"), Col("lag"),
                Col("log")],
               ([n.name, n.role, n.pid, n.address, n.state, n.health, _lag(n), n.log]
                for n in nodes),
               title=f"{topology} at {entry}")


def _lag(n: NodeStatus) -> str:
    if n.lag_bytes is None:
        return "" if n.role != "standby" else "not streaming"
    return f"{n.lag_bytes} B" + (f", {n.lag_s * 1000:.1f} ms" if n.lag_s is not None else "")


@app.command("down")
def down(data_dir: Path | None = DATA_DIR, as_json: bool = JSON) -> None:
    """Stop every node (balancer first, primary last) and delete the cluster's databases;
    the logs stay. Anything still running under the cluster's directories is killed."""
    from bazaar import cluster

    settings = _settings(data_dir)
    try:
        state = cluster.down(settings, echo=(lambda _m: None) if as_json else typer.echo)
    except cluster.ClusterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        return emit_json({"stopped": [n.name for n in state.nodes]})
    typer.echo(f"stopped {len(state.nodes)} nodes")

"""``bazaar up``: the whole shop on embedded defaults."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

app = typer.Typer()


class Reservations(StrEnum):
    optimistic = "optimistic"
    pessimistic = "pessimistic"
    atomic = "atomic"


class Checkout(StrEnum):
    orchestration = "orchestration"
    choreography = "choreography"


#: setting → the option that sets it, for error messages.
OPTIONS = {"host": "--host", "port": "--port", "data_dir": "--data-dir",
           "database_url": "--database-url", "reservation_strategy": "--reservations",
           "checkout": "--checkout", "broker_port": "--broker-port", "flow_port": "--flow-port",
           "log_level": "--log-level", "grpc_port": "--grpc-port", "tls": "--tls",
           "tls_port": "--tls-port", "pipeline": "--pipeline",
           "dashboard_port": "--dashboard-port"}


@app.command("up")
def up(
    host: str | None = typer.Option(None, "--host", help="Interface the API listens on.",
                                    show_default="127.0.0.1"),
    port: int | None = typer.Option(None, "--port", help="The API's port (0 picks a free one).",
                                    show_default="8000"),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Where local state lives.",
                                         show_default=".bazaar"),
    database_url: str | None = typer.Option(
        None, "--database-url", "--db", help="SQLAlchemy URL, e.g. postgresql+psycopg://…",
        show_default="SQLite in the data dir"),
    strategy: Reservations | None = typer.Option(
        None, "--reservations", help="How stock is reserved.",
        show_default="atomic"),
    checkout: Checkout | None = typer.Option(
        None, "--checkout", help="How the checkout saga runs.",
        show_default="orchestration"),
    broker_port: int | None = typer.Option(
        None, "--broker-port", help="The embedded broker's port (0 picks a free one).",
        show_default="9092"),
    flow_port: int | None = typer.Option(
        None, "--flow-port", help="The orchestrator's port (0 picks a free one).",
        show_default="8300"),
    grpc_port: int | None = typer.Option(
        None, "--grpc-port", help="The gRPC API's port (0 picks a free one).",
        show_default="50051"),
    tls: bool | None = typer.Option(
        None, "--tls/--no-tls", help="Also serve HTTP/2 (TLS) and HTTP/3 (QUIC), with a "
        "throwaway CA under the data dir.", show_default="off"),
    tls_port: int | None = typer.Option(
        None, "--tls-port", help="The TLS/QUIC port, TCP and UDP (0 picks a free one).",
        show_default="8443"),
    pipeline: bool | None = typer.Option(
        None, "--pipeline/--no-pipeline",
        help="Also run the pipeline: shop.events → lake → warehouse → dashboard.",
        show_default="on"),
    dashboard_port: int | None = typer.Option(
        None, "--dashboard-port", help="The pipeline dashboard's port (0 picks a free one).",
        show_default="8400"),
    services: bool = typer.Option(
        True, "--services/--no-services",
        help="Also run the embedded broker, the saga orchestrator and the checkout services."),
) -> None:
    """Start the shop and the services beside it; serve until Ctrl-C.

    Migrates, seeds the demo, runs the log, the orchestrator, the saga services, the shop's
    event relay and the pipeline (ingester and dashboard; restarted if they die), then serves
    the API. Every port is checked before anything starts.

    An option not given comes from its BAZAAR_* variable (--port: BAZAAR_PORT, --reservations:
    BAZAAR_RESERVATION_STRATEGY, …), else the default shown."""
    from bazaar import bootstrap
    from bazaar.commands.shop import fail_on_storage_errors, settings_from
    from bazaar.processes import DirLocked
    from bazaar.supervisor import ServiceFailed

    settings = settings_from(
        OPTIONS, host=host, port=port, data_dir=data_dir, database_url=database_url,
        reservation_strategy=strategy.value if strategy else None,
        checkout=checkout.value if checkout else None, broker_port=broker_port,
        flow_port=flow_port, grpc_port=grpc_port, tls=tls, tls_port=tls_port,
        pipeline=pipeline, dashboard_port=dashboard_port)
    try:
        bootstrap.up(settings, services=services)
    except (ServiceFailed, DirLocked) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except (ValueError, OSError) as exc:  # a bad database URL, a port in use
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except Exception as exc:
        fail_on_storage_errors(exc)
        raise

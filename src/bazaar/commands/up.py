"""``bazaar up``: the whole shop on embedded defaults."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer()


@app.command("up")
def up(
    host: str | None = typer.Option(None, "--host", help="Interface to listen on."),
    port: int | None = typer.Option(None, "--port", help="Port (0 picks a free one)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Where local state lives."),
    database_url: str | None = typer.Option(
        None, "--database-url", help="SQLAlchemy URL, e.g. postgresql+psycopg://…"),
    strategy: str | None = typer.Option(
        None, "--reservations", help="optimistic | pessimistic | atomic"),
    services: bool = typer.Option(
        True, "--services/--no-services",
        help="Also run the embedded broker, the saga orchestrator and the checkout services."),
) -> None:
    """Start the shop: migrate, seed the demo, run the log, orchestrator and saga services,
    serve the API until Ctrl-C."""
    from bazaar import bootstrap
    from bazaar.commands.shop import fail_on_storage_errors, settings_from
    from bazaar.processes import DirLocked
    from bazaar.supervisor import ServiceFailed

    settings = settings_from(host=host, port=port, data_dir=data_dir,
                             database_url=database_url, reservation_strategy=strategy)
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

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
) -> None:
    """Start the shop: migrate, seed the demo catalogue, serve the API until Ctrl-C."""
    from bazaar import bootstrap
    from bazaar.commands.shop import settings_from

    bootstrap.up(settings_from(host=host, port=port, data_dir=data_dir,
                               database_url=database_url, reservation_strategy=strategy))

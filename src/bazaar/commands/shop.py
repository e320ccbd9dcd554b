"""``bazaar shop``: migrate the database, seed the demo catalogue."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from bazaar.bootstrap import Runtime
    from bazaar.config import Settings

app = typer.Typer(help="The shop's database: migrations and demo data.", no_args_is_help=True)

DataDir = typer.Option(None, "--data-dir", help="Where local state lives.")
DatabaseUrl = typer.Option(None, "--database-url", help="SQLAlchemy URL.")


def settings_from(options: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with the options the user gave on top; a bad value is
    a plain message naming the setting, its option (``options``: setting → option) and its
    ``BAZAAR_*`` variable, and exit code 2."""
    from pydantic import ValidationError

    from bazaar.config import TOML_FILE, Settings, explain

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        typer.echo(f"error: {explain(exc, options)}", err=True)
        raise typer.Exit(2) from exc
    except tomllib.TOMLDecodeError as exc:
        typer.echo(f"error: {TOML_FILE} is not valid TOML: {exc}", err=True)
        raise typer.Exit(2) from exc


def build_runtime(settings: Settings) -> Runtime:
    """The wired shop, or a one-line error and exit code 2 for a bad database URL."""
    from bazaar import bootstrap

    try:
        return bootstrap.build(settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def fail_on_storage_errors(exc: Exception) -> None:
    """Turn "database unreachable" into a one-line error and exit code 3."""
    from bazaar.shop.domain import Unavailable
    from bazaar.storage import StorageError

    if isinstance(exc, StorageError | Unavailable):
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(3) from exc


@app.command("migrate")
def migrate(data_dir: Path | None = DataDir, database_url: str | None = DatabaseUrl) -> None:
    """Bring the database schema up to date (``bazaar up`` does this too)."""
    from bazaar import bootstrap

    runtime = build_runtime(settings_from(data_dir=data_dir, database_url=database_url))
    try:
        typer.echo(f"schema at revision {bootstrap.migrate_database(runtime)}")
    except Exception as exc:
        fail_on_storage_errors(exc)
        raise
    finally:
        runtime.close()


@app.command("seed")
def seed(data_dir: Path | None = DataDir, database_url: str | None = DatabaseUrl) -> None:
    """Add the demo products, room types and the demo admin user (idempotent)."""
    from bazaar import bootstrap

    settings = settings_from(data_dir=data_dir, database_url=database_url)
    runtime = build_runtime(settings)
    try:
        bootstrap.migrate_database(runtime)
        result = bootstrap.seed(runtime)
        typer.echo(f"added {result.products_added} products, {result.rooms_added} room types; "
                   f"demo admin user id {result.demo_user_id}")
    except Exception as exc:
        fail_on_storage_errors(exc)
        raise
    finally:
        runtime.close()


@app.command("relay")
def relay(batch: int = typer.Option(500, min=1, max=10_000,
                                    help="Outbox rows published per round.")) -> None:
    """Publish the shop's events (its outbox) to shop.events on the log, until Ctrl-C.
    ``bazaar up`` runs it as the ``shop-events`` service; the log is BAZAAR_KAFKA_BOOTSTRAP or
    the embedded broker's port."""
    from bazaar import bootstrap

    bootstrap.serve_events(settings_from(), batch=batch)

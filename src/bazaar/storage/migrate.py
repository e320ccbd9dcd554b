"""The Alembic runner: any store's migrations package, run programmatically at open.

A store names its migrations with :class:`Migrations`: a package holding only revision files
(``0001_….py``, …) and the version table that records where a database stands. Stores that
share a database (the shop and auth; a saga service and its outbox) keep separate version
tables, so each moves on its own. Upgrades are serialised: ``BEGIN IMMEDIATE`` on SQLite, an
advisory lock on PostgreSQL, so processes opening the same database at once migrate it once.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from bazaar.storage.engines import EngineOptions, immediate, make_engine
from bazaar.storage.errors import StorageError, classify

ENVIRONMENT = Path(__file__).resolve().parent / "_alembic"


@dataclass(frozen=True)
class Migrations:
    """A store's migrations: ``package`` (dotted name) holds the revision files;
    ``version_table`` is where a database records its revision."""

    package: str
    version_table: str = "alembic_version"

    @property
    def directory(self) -> Path:
        return Path(str(resources.files(self.package)))


def _config(migrations: Migrations) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ENVIRONMENT))
    config.set_main_option("version_locations", str(migrations.directory))
    config.set_main_option("path_separator", "os")
    return config


@cache
def head(migrations: Migrations) -> str:
    """The newest revision this version of Bazaar knows for ``migrations``."""
    revision = ScriptDirectory.from_config(_config(migrations)).get_current_head()
    if revision is None:
        raise ValueError(f"{migrations.package} holds no revision")
    return revision


def current(engine: Engine, migrations: Migrations) -> str | None:
    """The revision the database is at, or ``None`` if it was never migrated."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": migrations.version_table})
        return context.get_current_revision()


def upgrade(engine: Engine, migrations: Migrations, revision: str = "head") -> str:
    """Bring the database to ``revision``; safe to run again, and from several processes at
    once. Returns the revision reached. A database error raises a :class:`StorageError`
    (:class:`StorageUnavailable` if the database cannot be reached)."""
    if revision == "head" and _at(engine, migrations, head(migrations)):
        return head(migrations)
    config = _config(migrations)
    try:
        with immediate(engine) as conn:
            if conn.dialect.name == "postgresql":
                key = zlib.crc32(migrations.version_table.encode())
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({key})")
            config.attributes["connection"] = conn
            config.attributes["version_table"] = migrations.version_table
            command.upgrade(config, revision)
    except Exception as exc:
        error = _storage_error(exc, migrations)
        if error is None:
            raise
        raise error from exc
    found = current(engine, migrations)
    assert found is not None
    return found


def upgrade_sqlite(path: Path, migrations: Migrations, revision: str = "head") -> str:
    """:func:`upgrade` for a store that keeps a plain sqlite3 connection to ``path``: a
    short-lived engine runs the migrations and is closed."""
    engine = make_engine(f"sqlite:///{path}", EngineOptions(pool_size=1, max_overflow=0))
    try:
        return upgrade(engine, migrations, revision)
    finally:
        engine.dispose()


def _at(engine: Engine, migrations: Migrations, revision: str) -> bool:
    """Whether the database already stands at ``revision`` (the common case at open: one
    cheap read instead of Alembic's machinery)."""
    try:
        return current(engine, migrations) == revision
    except Exception as exc:
        error = _storage_error(exc, migrations)
        if error is None:
            raise
        raise error from exc


def _storage_error(exc: Exception, migrations: Migrations) -> StorageError | None:
    """What a failed migration raises instead of ``exc``: the storage error it stands for,
    any other database error as a :class:`StorageError`; ``None`` for anything else (a bug
    in a revision), which is raised unchanged."""
    error = classify(exc)
    if error is not None:
        return error
    if isinstance(exc, DBAPIError):
        return StorageError(f"migrating {migrations.package}: {exc}")
    return None

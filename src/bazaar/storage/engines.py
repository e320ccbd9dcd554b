"""Engines for the two supported databases, configured for concurrent writers.

SQLite (the embedded default): WAL journal, a busy timeout, foreign keys on, and
transactions begun by us (``BEGIN`` or, for the pessimistic strategy, ``BEGIN IMMEDIATE``,
which takes the write lock up front) instead of by the sqlite3 module's guesswork.
PostgreSQL: psycopg 3, a connect timeout so an unreachable server fails fast, pre-ping.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url

#: Execution option: begin the transaction with ``BEGIN IMMEDIATE`` on SQLite.
SQLITE_IMMEDIATE = "bazaar_sqlite_immediate"


@dataclass(frozen=True)
class EngineOptions:
    """Pool and timeouts. ``pool_size`` should cover the writers you expect at once."""

    pool_size: int = 10
    max_overflow: int = 20
    pool_timeout_s: float = 10.0
    connect_timeout_s: int = 3
    sqlite_busy_timeout_ms: int = 10_000
    echo: bool = False


def backend(url: str) -> str:
    """``sqlite`` or ``postgresql`` (or whatever else the URL names)."""
    return make_url(url).get_backend_name()


def make_engine(url: str, options: EngineOptions | None = None) -> Engine:
    """An engine for ``url``; for SQLite files the parent directory is created."""
    options = options or EngineOptions()
    parsed = make_url(url)
    kind = parsed.get_backend_name()
    if kind == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            raise ValueError("use a SQLite file: concurrent connections need a shared database")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=options.pool_size,
                               max_overflow=options.max_overflow,
                               pool_timeout=options.pool_timeout_s, echo=options.echo,
                               connect_args={"timeout": options.sqlite_busy_timeout_ms / 1000,
                                             "check_same_thread": False})
        _configure_sqlite(engine, options)
        return engine
    if kind == "postgresql":
        return create_engine(url, pool_size=options.pool_size,
                             max_overflow=options.max_overflow,
                             pool_timeout=options.pool_timeout_s, pool_pre_ping=True,
                             echo=options.echo,
                             connect_args={"connect_timeout": options.connect_timeout_s})
    raise ValueError(f"unsupported database {kind!r}: use sqlite:/// or postgresql+psycopg://")


def _configure_sqlite(engine: Engine, options: EngineOptions) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN; sqlite3 would otherwise begin
        # lazily before the first write and never with IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(options.sqlite_busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(SQLITE_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

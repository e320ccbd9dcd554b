"""Engines for the two supported databases, configured for concurrent writers.

SQLite (the embedded default): WAL journal, a busy timeout, foreign keys on, a chosen
``synchronous`` level, and transactions begun by us (``BEGIN`` or, for writers that must not
deadlock on a lock upgrade, ``BEGIN IMMEDIATE``, which takes the write lock up front) instead
of by the sqlite3 module's guesswork. PostgreSQL: psycopg 3, a connect timeout so an
unreachable server fails fast, pre-ping. The pragmas themselves are :mod:`.sqlite`'s, shared
with the plain sqlite3 connections some stores keep.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url

from bazaar.storage.sqlite import apply_pragmas, check_synchronous

#: Execution option: begin the transaction with ``BEGIN IMMEDIATE`` on SQLite.
SQLITE_IMMEDIATE = "bazaar_sqlite_immediate"


@dataclass(frozen=True)
class EngineOptions:
    """Pool and timeouts. ``pool_size`` should cover the writers you expect at once.

    ``sqlite_synchronous``: ``FULL`` fsyncs every commit (the default: a commit survives a
    power cut); ``NORMAL`` in WAL mode survives a crash of the process but may lose the last
    commits to a power cut, for far fewer fsyncs.
    """

    pool_size: int = 10
    max_overflow: int = 20
    pool_timeout_s: float = 10.0
    connect_timeout_s: int = 3
    sqlite_busy_timeout_ms: int = 10_000
    sqlite_synchronous: str = "FULL"
    echo: bool = False


def backend(url: str) -> str:
    """``sqlite`` or ``postgresql`` (or whatever else the URL names)."""
    return make_url(url).get_backend_name()


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for a server database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def make_engine(url: str, options: EngineOptions | None = None) -> Engine:
    """An engine for ``url`` with the house settings; for SQLite files the parent directory
    is created. Raises ``ValueError`` for an in-memory SQLite URL (concurrent connections
    need a shared file), an unknown ``synchronous`` level or an unsupported database."""
    options = options or EngineOptions()
    parsed = make_url(url)
    kind = parsed.get_backend_name()
    if kind == "sqlite":
        path = sqlite_path(url)
        if path is None:
            raise ValueError("use a SQLite file: concurrent connections need a shared database")
        check_synchronous(options.sqlite_synchronous)
        path.parent.mkdir(parents=True, exist_ok=True)
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


@contextmanager
def immediate(engine: Engine) -> Iterator[Connection]:
    """A write transaction, committed on success and rolled back on any error. On SQLite
    (an engine from :func:`make_engine`) it begins with ``BEGIN IMMEDIATE``, so two writers
    that both read first never deadlock upgrading their locks; elsewhere a plain ``BEGIN``."""
    with engine.connect() as conn:
        conn.execution_options(**{SQLITE_IMMEDIATE: True})
        with conn.begin():
            yield conn


def _configure_sqlite(engine: Engine, options: EngineOptions) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN; sqlite3 would otherwise begin
        # lazily before the first write and never with IMMEDIATE.
        dbapi_connection.isolation_level = None
        apply_pragmas(dbapi_connection, synchronous=options.sqlite_synchronous,
                      busy_timeout_ms=options.sqlite_busy_timeout_ms)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(SQLITE_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

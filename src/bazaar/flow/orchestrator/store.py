"""The durable store: the orchestrator's tables, and opening the database they live in.

SQLite (WAL, ``BEGIN IMMEDIATE`` so writers never deadlock on upgrade) is the default;
PostgreSQL works unchanged, with ``FOR UPDATE`` on the execution row (one decider per
execution at a time) and ``FOR UPDATE SKIP LOCKED`` when workers claim tasks. What is read
and written, and how, is :mod:`.dao`'s job; the saga services reuse :class:`Store` to open
their own databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from bazaar.flow.errors import StoreError

metadata = sa.MetaData()

definitions = sa.Table(
    "flow_definitions", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

executions = sa.Table(
    "flow_executions", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("output", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("idempotency_key", sa.String(200), unique=True),
    sa.Column("parent_id", sa.String(40)),
    sa.Column("parent_task_id", sa.String(40)),
    sa.Column("failure_execution_id", sa.String(40)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("notes", sa.Text, nullable=False, server_default="[]"),
)

tasks = sa.Table(
    "flow_tasks", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("execution_id", sa.String(40), nullable=False, index=True),
    sa.Column("ref", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("queue", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("first_attempt", sa.Integer, nullable=False),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("output", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("retryable", sa.Boolean, nullable=False),
    sa.Column("scheduled_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("lease_s", sa.Float, nullable=False),
    sa.Column("lease_until", sa.Float),
    sa.Column("worker_id", sa.String(100)),
    sa.Column("deliveries", sa.Integer, nullable=False),
    sa.Column("wake_at", sa.Float),
    sa.Column("child_id", sa.String(40)),
    sa.Index("flow_tasks_ready", "queue", "status", "scheduled_at"),
    sa.Index("flow_tasks_status", "status", "lease_until"),
)

class Store:
    """Opens the database and hands out transactions. ``url`` is a SQLAlchemy URL."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL",
                 pool_size: int = 5) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        try:
            if self.is_sqlite:
                self.engine: Engine = sa.create_engine(url, connect_args={"timeout": 30})
                _sqlite_setup(self.engine, sqlite_synchronous)
            else:
                self.engine = sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                                               pool_pre_ping=True)
        except (sa.exc.SQLAlchemyError, ValueError) as exc:
            raise StoreError(f"cannot open {url}: {exc}") from exc

    def create_schema(self) -> None:
        """Create the tables if missing (idempotent)."""
        try:
            metadata.create_all(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot create the flow schema: {exc}") from exc

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (never takes SQLite's write lock)."""
        try:
            with self.engine.connect().execution_options(flow_readonly=True) as conn, \
                    conn.begin():
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    def close(self) -> None:
        self.engine.dispose()


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite store URL (None for a server database or an in-memory one)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def _sqlite_setup(engine: Engine, synchronous: str) -> None:
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise StoreError(f"sqlite synchronous must be OFF/NORMAL/FULL/EXTRA, not {synchronous}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        readonly = conn.get_execution_options().get("flow_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

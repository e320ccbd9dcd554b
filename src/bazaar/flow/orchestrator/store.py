"""The durable store: definitions, executions and task attempts in SQL (SQLAlchemy Core).

SQLite (WAL, ``BEGIN IMMEDIATE`` so writers never deadlock on upgrade) is the default;
PostgreSQL works unchanged, with ``FOR UPDATE`` on the execution row (one decider per
execution at a time) and ``FOR UPDATE SKIP LOCKED`` when workers claim tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from bazaar.flow.errors import StoreError
from bazaar.flow.orchestrator.state import ExecutionRow, TaskRow

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

_JSON_EXEC = ("input", "definition", "output", "notes")
_JSON_TASK = ("input", "output")
_TASK_FIELDS = [f.name for f in fields(TaskRow)]
_EXEC_FIELDS = [f.name for f in fields(ExecutionRow)]


def _dump(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _load(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def task_from_row(row: sa.Row[Any]) -> TaskRow:
    data = dict(row._mapping)
    for key in _JSON_TASK:
        data[key] = _load(data[key])
    return TaskRow(**{k: data[k] for k in _TASK_FIELDS})


def execution_from_row(row: sa.Row[Any]) -> ExecutionRow:
    data = dict(row._mapping)
    for key in _JSON_EXEC:
        data[key] = _load(data[key])
    return ExecutionRow(**{k: data[k] for k in _EXEC_FIELDS})


def task_values(row: TaskRow) -> dict[str, Any]:
    values = {k: getattr(row, k) for k in _TASK_FIELDS if k != "seq"}
    for key in _JSON_TASK:
        values[key] = _dump(values[key])
    return values


def execution_values(row: ExecutionRow) -> dict[str, Any]:
    values = {k: getattr(row, k) for k in _EXEC_FIELDS}
    for key in _JSON_EXEC:
        values[key] = _dump(values[key])
    return values


def encode(field: str, value: Any) -> Any:
    """A column value, JSON-encoding the JSON columns."""
    return _dump(value) if field in ("input", "output", "definition", "notes") else value


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


# --- hot statements, built once (SQLAlchemy caches their compiled form) ----------------------
_b = sa.bindparam
EXECUTION_FOR_UPDATE = sa.select(executions).where(executions.c.id == _b("eid")) \
    .with_for_update()
EXECUTION_BY_KEY = sa.select(executions.c.id, executions.c.status).where(
    executions.c.idempotency_key == _b("key"))
TASKS_OF = sa.select(tasks).where(tasks.c.execution_id == _b("eid")).order_by(tasks.c.seq)
TASK_BY_ID = sa.select(tasks).where(tasks.c.id == _b("tid"))
TASK_EXECUTION = sa.select(tasks.c.execution_id).where(tasks.c.id == _b("tid"))
UPDATE_TASK = tasks.update().where(tasks.c.id == _b("tid"))
UPDATE_EXECUTION = executions.update().where(executions.c.id == _b("eid"))
INSERT_TASK = tasks.insert()
INSERT_EXECUTION = executions.insert()
LATEST_VERSION = sa.select(sa.func.max(definitions.c.version)).where(
    definitions.c.name == _b("name"))

"""The durable store: the orchestrator's tables, and opening the database they live in
(through :mod:`bazaar.storage`, the one opener; migrations in :mod:`.migrations`).

SQLite (WAL, ``BEGIN IMMEDIATE`` so writers never deadlock on upgrade) is the default;
PostgreSQL works unchanged, with ``FOR UPDATE`` on the execution row (one decider per
execution at a time) and ``FOR UPDATE SKIP LOCKED`` when workers claim tasks. What is read
and written, and how, is :mod:`.dao`'s job; the saga services reuse :class:`Store` to open
their own databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bazaar.flow.errors import StoreError
from bazaar.storage import (
    SQLITE_IMMEDIATE,
    EngineOptions,
    Migrations,
    StorageError,
    make_engine,
    migrate,
)

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
    #: Conductor's correlationId (the caller's own key; many executions may share one).
    sa.Column("correlation_id", sa.String(255), index=True),
    #: created_at + the definition's timeout_s: the sweeper times the execution out then.
    sa.Column("deadline_at", sa.Float, index=True),
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

#: Conductor task definitions as registered through ``/api/metadata/taskdefs`` (the JSON
#: as given): their retry, lease and timeout settings are read when a Conductor workflow
#: definition is translated into Flow's (see :mod:`.conductor`).
task_defs = sa.Table(
    "flow_task_defs", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

#: Lines a worker logged for a task (Conductor's task execution logs).
task_logs = sa.Table(
    "flow_task_logs", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(40), nullable=False, index=True),
    sa.Column("log", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

#: The orchestrator's migrations (``create_schema`` runs them); the tables above are head.
MIGRATIONS = Migrations("bazaar.flow.orchestrator.migrations", version_table="flow_alembic_version")


class Store:
    """Opens a database through :mod:`bazaar.storage` and hands out transactions. ``url`` is
    a SQLAlchemy URL. Writes begin with ``BEGIN IMMEDIATE`` on SQLite; ``synchronous``
    defaults to ``NORMAL`` (WAL: a commit survives a crash of the process; a power cut may
    lose the last ones)."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL",
                 pool_size: int = 5) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options = EngineOptions(pool_size=pool_size, max_overflow=2 * pool_size,
                                sqlite_busy_timeout_ms=30_000,
                                sqlite_synchronous=sqlite_synchronous)
        try:
            self.engine: Engine = make_engine(url, options)
        except (sa.exc.SQLAlchemyError, ValueError) as exc:
            raise StoreError(f"cannot open {url}: {exc}") from exc
        self._writer = self.engine.execution_options(**{SQLITE_IMMEDIATE: True})

    def migrate(self, *migrations: Migrations) -> None:
        """Bring the tables of each migrations package to head (idempotent; safe from several
        processes at once)."""
        for each in migrations:
            try:
                migrate.upgrade(self.engine, each)
            except (sa.exc.SQLAlchemyError, StorageError) as exc:
                raise StoreError(f"cannot migrate {each.package} in {self.url}: {exc}") \
                    from exc

    def create_schema(self) -> None:
        """The orchestrator's tables, migrated to head."""
        self.migrate(MIGRATIONS)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: committed on success, rolled back on any error."""
        try:
            with self._writer.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (never takes SQLite's write lock)."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except sa.exc.OperationalError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc

    def close(self) -> None:
        self.engine.dispose()

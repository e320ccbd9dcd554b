"""The orchestrator's data access: every read and write of definitions, executions and task
attempts, as named methods over one transaction (Conductor's ``ExecutionDAO`` shape).

The engine never sees SQL: it asks an :class:`ExecutionDao` for "the execution, locked",
"the due tasks of this queue, leased to this worker", and gets :mod:`.state` rows back. The
hot statements are built once at import (SQLAlchemy caches their compiled form).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bazaar.flow.orchestrator.state import (
    ACTIVE,
    IN_FLIGHT,
    IN_PROGRESS,
    SCHEDULED,
    ExecutionRow,
    TaskRow,
)
from bazaar.flow.orchestrator.store import definitions, executions, task_defs, task_logs, tasks

_JSON_COLUMNS = frozenset({"input", "output", "definition", "notes"})
_TASK_FIELDS = [f.name for f in fields(TaskRow)]
_EXEC_FIELDS = [f.name for f in fields(ExecutionRow)]


def _dump(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _load(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def encode(field: str, value: Any) -> Any:
    """A column value, JSON-encoding the JSON columns."""
    return _dump(value) if field in _JSON_COLUMNS else value


def _task(row: sa.Row[Any]) -> TaskRow:
    data = row._mapping
    return TaskRow(**{k: _load(data[k]) if k in _JSON_COLUMNS else data[k]
                      for k in _TASK_FIELDS})


def _execution(row: sa.Row[Any]) -> ExecutionRow:
    data = row._mapping
    return ExecutionRow(**{k: _load(data[k]) if k in _JSON_COLUMNS else data[k]
                           for k in _EXEC_FIELDS})


_b = sa.bindparam
_EXECUTION = sa.select(executions).where(executions.c.id == _b("eid"))
_EXECUTION_FOR_UPDATE = _EXECUTION.with_for_update()
_EXECUTION_BY_KEY = sa.select(executions.c.id, executions.c.status).where(
    executions.c.idempotency_key == _b("key"))
_TASKS_OF = sa.select(tasks).where(tasks.c.execution_id == _b("eid")).order_by(tasks.c.seq)
_TASK = sa.select(tasks).where(tasks.c.id == _b("tid"))
_UPDATE_TASK = tasks.update().where(tasks.c.id == _b("tid"))
_UPDATE_EXECUTION = executions.update().where(executions.c.id == _b("eid"))
_INSERT_TASK = tasks.insert()
_INSERT_EXECUTION = executions.insert()
_LATEST_VERSION = sa.select(sa.func.max(definitions.c.version)).where(
    definitions.c.name == _b("name"))
_DEFINITION_BODY = sa.select(definitions.c.body).where(
    definitions.c.name == _b("name"), definitions.c.version == _b("version"))
_IN_PROGRESS_ON = sa.select(sa.func.count()).select_from(tasks).where(
    tasks.c.queue == _b("queue"), tasks.c.status == IN_PROGRESS)


class ExecutionDao:
    """The orchestrator's tables, seen through one open transaction ``conn``."""

    def __init__(self, conn: Connection, *, sqlite: bool) -> None:
        self.conn = conn
        self._sqlite = sqlite

    @property
    def single_writer(self) -> bool:
        """True when a write transaction excludes every other writer from its start
        (SQLite's ``BEGIN IMMEDIATE``): what it read stays current until it commits."""
        return self._sqlite

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an error inside undoes only what was done inside."""
        with self.conn.begin_nested():
            yield

    # --- definitions -----------------------------------------------------------------------
    def latest_version(self, name: str) -> int | None:
        version = self.conn.execute(_LATEST_VERSION, {"name": name}).scalar()
        return None if version is None else int(version)

    def definition_body(self, name: str, version: int) -> str | None:
        body = self.conn.execute(_DEFINITION_BODY, {"name": name, "version": version}).scalar()
        return None if body is None else str(body)

    def add_definition(self, name: str, version: int, body: Mapping[str, Any],
                       now: float) -> None:
        self.conn.execute(definitions.insert().values(
            name=name, version=version, body=_dump(body), created_at=now))

    def definition_bodies(self) -> list[tuple[str, int, str]]:
        """(name, version, body) of every definition, by name then version."""
        rows = self.conn.execute(sa.select(definitions.c.name, definitions.c.version,
                                           definitions.c.body)
                                 .order_by(definitions.c.name, definitions.c.version))
        return [(str(r.name), int(r.version), str(r.body)) for r in rows]

    # --- executions ------------------------------------------------------------------------
    def add_execution(self, execution: ExecutionRow) -> None:
        self.conn.execute(_INSERT_EXECUTION, {k: encode(k, getattr(execution, k))
                                              for k in _EXEC_FIELDS})

    def execution(self, execution_id: str, *, lock: bool = False) -> ExecutionRow | None:
        """The execution; with ``lock``, held until the transaction ends (one decider per
        execution at a time: ``FOR UPDATE`` on PostgreSQL, the write lock on SQLite)."""
        query = _EXECUTION_FOR_UPDATE if lock else _EXECUTION
        row = self.conn.execute(query, {"eid": execution_id}).first()
        return None if row is None else _execution(row)

    def execution_by_key(self, key: str) -> tuple[str, str] | None:
        """(id, status) of the execution started with idempotency ``key``."""
        row = self.conn.execute(_EXECUTION_BY_KEY, {"key": key}).first()
        return None if row is None else (str(row.id), str(row.status))

    def update_execution(self, execution_id: str, values: Mapping[str, Any]) -> None:
        self.conn.execute(_UPDATE_EXECUTION, {"eid": execution_id,
                                              **{k: encode(k, v) for k, v in values.items()}})

    def recent_executions(self, status: str | None, name: str | None,
                          limit: int) -> list[ExecutionRow]:
        """Most recent first."""
        query = sa.select(executions).order_by(executions.c.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(executions.c.status == status)
        if name is not None:
            query = query.where(executions.c.name == name)
        return [_execution(r) for r in self.conn.execute(query)]

    def correlated(self, name: str, correlation_id: str, include_closed: bool,
                   limit: int) -> list[ExecutionRow]:
        """Executions of ``name`` with ``correlation_id``, oldest first."""
        query = sa.select(executions).where(
            executions.c.correlation_id == correlation_id, executions.c.name == name,
        ).order_by(executions.c.created_at).limit(limit)
        if not include_closed:
            query = query.where(executions.c.status.in_(sorted(ACTIVE)))
        return [_execution(r) for r in self.conn.execute(query)]

    def overdue_executions(self, now: float, limit: int) -> list[str]:
        """Ids of active executions past their deadline (the workflow's timeout)."""
        return [str(i) for i in self.conn.execute(sa.select(executions.c.id).where(
            executions.c.deadline_at <= now,
            executions.c.status.in_(sorted(ACTIVE))).limit(limit)).scalars()]

    def executions_per_status(self) -> dict[str, int]:
        rows = self.conn.execute(sa.select(executions.c.status, sa.func.count())
                                 .group_by(executions.c.status))
        return {str(r[0]): int(r[1]) for r in rows}

    # --- tasks -----------------------------------------------------------------------------
    def add_task(self, row: TaskRow) -> int:
        """Insert an attempt; returns its ``seq`` (the order of insertion)."""
        values = {k: encode(k, getattr(row, k)) for k in _TASK_FIELDS if k != "seq"}
        key = self.conn.execute(_INSERT_TASK, values).inserted_primary_key
        assert key is not None
        return int(key[0])

    def task(self, task_id: str) -> TaskRow | None:
        row = self.conn.execute(_TASK, {"tid": task_id}).first()
        return None if row is None else _task(row)

    def tasks_of(self, execution_id: str, status: str | None = None) -> list[TaskRow]:
        """Every attempt of the execution (only those in ``status`` if given), in order."""
        if status is None:
            return [_task(r) for r in self.conn.execute(_TASKS_OF, {"eid": execution_id})]
        query = sa.select(tasks).where(tasks.c.execution_id == execution_id,
                                       tasks.c.status == status).order_by(tasks.c.seq)
        return [_task(r) for r in self.conn.execute(query)]

    def update_task(self, task_id: str, values: Mapping[str, Any]) -> None:
        self.conn.execute(_UPDATE_TASK, {"tid": task_id,
                                         **{k: encode(k, v) for k, v in values.items()}})

    def set_status_of_tasks(self, execution_id: str, old: str, new: str) -> None:
        """Every task of the execution in status ``old`` moves to ``new``."""
        self.conn.execute(tasks.update().where(tasks.c.execution_id == execution_id,
                                               tasks.c.status == old).values(status=new))

    # --- queues ----------------------------------------------------------------------------
    def in_progress_on(self, queue: str, *, lock: bool = False) -> int:
        """Tasks of ``queue`` leased right now; with ``lock``, counters of the same queue
        wait for this transaction (a PostgreSQL advisory lock; SQLite has one writer)."""
        if lock and not self._sqlite:
            self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(queue))))
        return int(self.conn.execute(_IN_PROGRESS_ON, {"queue": queue}).scalar_one())

    def lease_due(self, queue: str, worker_id: str, now: float, limit: int) -> list[TaskRow]:
        """Lease up to ``limit`` due SCHEDULED tasks of ``queue`` to ``worker_id``, oldest
        first; rows other transactions are leasing are skipped (``SKIP LOCKED``)."""
        ids = list(self.conn.execute(
            sa.select(tasks.c.id).where(tasks.c.queue == queue, tasks.c.status == SCHEDULED,
                                        tasks.c.scheduled_at <= now)
            .order_by(tasks.c.scheduled_at, tasks.c.seq).limit(limit)
            .with_for_update(skip_locked=True)).scalars())
        if not ids:
            return []
        self.conn.execute(tasks.update().where(tasks.c.id.in_(ids)).values(
            status=IN_PROGRESS, worker_id=worker_id,
            started_at=sa.func.coalesce(tasks.c.started_at, now),
            lease_until=now + tasks.c.lease_s, deliveries=tasks.c.deliveries + 1))
        rows = self.conn.execute(sa.select(tasks).where(tasks.c.id.in_(ids))
                                 .order_by(tasks.c.seq))
        return [_task(r) for r in rows]

    def lapsed_leases(self, now: float, limit: int) -> list[str]:
        """Ids of worker tasks whose lease ran out before ``now``."""
        return [str(i) for i in self.conn.execute(sa.select(tasks.c.id).where(
            tasks.c.status == IN_PROGRESS, tasks.c.queue != "",
            tasks.c.lease_until < now).limit(limit)).scalars()]

    def due_timers(self, now: float, limit: int) -> list[str]:
        """Ids of WAIT tasks whose time has come."""
        return [str(i) for i in self.conn.execute(sa.select(tasks.c.id).where(
            tasks.c.status == IN_PROGRESS, tasks.c.type == "WAIT",
            tasks.c.wake_at <= now).limit(limit)).scalars()]

    def queue_depths(self) -> dict[str, dict[str, int]]:
        """Tasks in flight per worker queue and status."""
        rows = self.conn.execute(
            sa.select(tasks.c.queue, tasks.c.status, sa.func.count())
            .where(tasks.c.status.in_(list(IN_FLIGHT)), tasks.c.queue != "")
            .group_by(tasks.c.queue, tasks.c.status))
        out: dict[str, dict[str, int]] = {}
        for queue, status, n in rows:
            out.setdefault(str(queue), {})[str(status)] = int(n)
        return out

    def event_waits(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(execution id, ref, input) of every EVENT task waiting for a record."""
        rows = self.conn.execute(sa.select(tasks.c.execution_id, tasks.c.ref, tasks.c.input)
                                 .where(tasks.c.type == "EVENT",
                                        tasks.c.status == IN_PROGRESS, tasks.c.queue == ""))
        return [(str(e), str(r), dict(_load(raw) or {})) for e, r, raw in rows]

    # --- Conductor's task definitions and task logs ----------------------------------------
    def put_task_def(self, name: str, body: Mapping[str, Any], now: float) -> None:
        """Create or replace a task definition (Conductor's are mutable)."""
        text = _dump(body)
        updated = self.conn.execute(task_defs.update().where(task_defs.c.name == name)
                                    .values(body=text, updated_at=now)).rowcount
        if not updated:
            self.conn.execute(task_defs.insert().values(name=name, body=text, updated_at=now))

    def task_def(self, name: str) -> dict[str, Any] | None:
        body = self.conn.execute(sa.select(task_defs.c.body)
                                 .where(task_defs.c.name == name)).scalar()
        return None if body is None else dict(_load(body))

    def task_def_bodies(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(sa.select(task_defs.c.body).order_by(task_defs.c.name))
        return [dict(_load(b)) for b in rows.scalars()]

    def delete_task_def(self, name: str) -> bool:
        return bool(self.conn.execute(task_defs.delete()
                                      .where(task_defs.c.name == name)).rowcount)

    def add_task_logs(self, task_id: str, lines: list[tuple[str, float]]) -> None:
        if lines:
            self.conn.execute(task_logs.insert(), [
                {"task_id": task_id, "log": text, "created_at": at} for text, at in lines])

    def task_logs(self, task_id: str) -> list[tuple[str, float]]:
        rows = self.conn.execute(sa.select(task_logs.c.log, task_logs.c.created_at)
                                 .where(task_logs.c.task_id == task_id)
                                 .order_by(task_logs.c.seq))
        return [(str(r.log), float(r.created_at)) for r in rows]

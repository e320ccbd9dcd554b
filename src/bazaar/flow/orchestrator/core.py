"""The orchestrator's mechanics: transactions, definitions, starting, deciding, recording.

:class:`~.engine.Orchestrator` builds the public operations on top. Every change runs in one
transaction (``_commit``) that locks the execution row it changes — one decider per
execution at a time, across processes — records the change, runs the pure
:func:`~.decider.decide`, and applies the decision before committing.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bazaar.flow.errors import (
    DefinitionError,
    NotFound,
    StartConflict,
)
from bazaar.flow.orchestrator import decider
from bazaar.flow.orchestrator import store as Q
from bazaar.flow.orchestrator.definition import WorkflowDef
from bazaar.flow.orchestrator.retry import RetryPolicy
from bazaar.flow.orchestrator.state import (
    ACTIVE,
    CANCELED,
    COMPENSATED,
    COMPENSATING,
    COMPENSATION,
    COMPLETED,
    FAILED,
    HELD,
    IN_PROGRESS,
    PAUSED,
    RUNNING,
    SCHEDULED,
    ExecutionRow,
    TaskRow,
)
from bazaar.flow.orchestrator.store import (
    Store,
    definitions,
    encode,
    execution_from_row,
    execution_values,
    task_from_row,
    task_values,
)
from bazaar.flow.orchestrator.validation import parse_definition

OnConflict = Literal["return_existing", "fail"]


@dataclass(frozen=True)
class OrchestratorConfig:
    """Engine settings. ``concurrency_limits`` caps in-progress tasks per queue (task type)."""

    concurrency_limits: Mapping[str, int] = field(default_factory=dict)
    sweep_batch: int = 500


@dataclass(frozen=True)
class StartResult:
    """The execution a start call refers to; ``created`` is False for an idempotent repeat."""

    id: str
    created: bool
    status: str


@dataclass
class SweepReport:
    """What one sweep restored."""

    leases_lapsed: int = 0
    timers_fired: int = 0


@dataclass
class _Tx:
    conn: Connection
    now: float
    ready: set[str] = field(default_factory=set)


def new_id() -> str:
    return uuid.uuid4().hex


class EngineCore:
    """State, transactions and the decide/record machinery shared by every operation."""

    def __init__(self, store: Store, config: OrchestratorConfig | None = None, *,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                 on_ready: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.config = config or OrchestratorConfig()
        self.clock = clock
        self.rng = rng or random.Random()
        self.on_ready = on_ready
        self._defs: dict[tuple[str, int], WorkflowDef] = {}
        #: queue -> (time of the last poll, worker id): for "why is it stuck".
        self.last_poll: dict[str, tuple[float, str]] = {}

    # --- transactions ----------------------------------------------------------------------
    def _commit(self, fn: Callable[[_Tx], Any]) -> Any:
        with self.store.begin() as conn:
            tx = _Tx(conn, self.clock())
            result = fn(tx)
        if self.on_ready is not None:
            for queue in tx.ready:
                self.on_ready(queue)
        return result

    # --- definitions -----------------------------------------------------------------------
    def register(self, raw: Mapping[str, Any] | str | bytes) -> WorkflowDef:
        """Validate and store a definition. Re-registering an identical one is a no-op; a
        different body under an existing (name, version) is refused: bump the version."""
        def known(name: str, version: int | None) -> bool:
            try:
                self.definition(name, version)
            except NotFound:
                return False
            return True

        defn = parse_definition(raw, known_workflow=known)
        body = defn.to_dict()

        def run(tx: _Tx) -> WorkflowDef:
            existing = tx.conn.execute(sa.select(definitions.c.body).where(
                definitions.c.name == defn.name, definitions.c.version == defn.version)).first()
            if existing is not None:
                if encode("input", body) != existing.body and \
                        parse_definition(existing.body).to_dict() != body:
                    raise DefinitionError([f"{defn.name} version {defn.version} is already "
                                           "registered with a different body; bump version"])
                return defn
            tx.conn.execute(definitions.insert().values(
                name=defn.name, version=defn.version, body=encode("input", body),
                created_at=tx.now))
            return defn

        result: WorkflowDef = self._commit(run)
        return result

    def definition(self, name: str, version: int | None = None) -> WorkflowDef:
        """A registered definition; the latest version when ``version`` is None."""
        if version is None:
            with self.store.read() as conn:
                latest = conn.execute(Q.LATEST_VERSION, {"name": name}).scalar()
            if latest is None:
                raise NotFound(f"no workflow {name!r}")
            version = int(latest)
        if (name, version) in self._defs:
            return self._defs[(name, version)]
        query = sa.select(definitions.c.body).where(definitions.c.name == name)
        if version is not None:
            query = query.where(definitions.c.version == version)
        with self.store.read() as conn:
            row = conn.execute(query.order_by(definitions.c.version.desc()).limit(1)).first()
        if row is None:
            raise NotFound(f"no workflow {name!r} version {version or 'latest'}")
        defn = parse_definition(row.body)
        self._defs[(defn.name, defn.version)] = defn
        return defn

    def definitions(self) -> list[tuple[str, int, str]]:
        """(name, version, description) of every registered definition."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(definitions.c.name, definitions.c.version,
                                          definitions.c.body)
                                .order_by(definitions.c.name, definitions.c.version)).all()
        return [(r.name, r.version, parse_definition(r.body).description) for r in rows]

    def _pinned(self, execution: ExecutionRow) -> WorkflowDef:
        key = (execution.name, execution.version)
        defn = self._defs.get(key)
        if defn is None:
            defn = parse_definition(execution.definition)
            self._defs[key] = defn
        return defn

    # --- starting --------------------------------------------------------------------------
    def start(self, name: str, input: Mapping[str, Any] | None = None, *,
              version: int | None = None, idempotency_key: str | None = None,
              on_conflict: OnConflict = "return_existing") -> StartResult:
        """Start an execution pinned to the definition's current (or given) version.

        With an ``idempotency_key``, a repeat returns the existing execution
        (``on_conflict="return_existing"``) or raises :class:`StartConflict` (``"fail"``).
        """
        if on_conflict not in ("return_existing", "fail"):
            raise ValueError("on_conflict must be 'return_existing' or 'fail'")
        defn = self.definition(name, version)
        result: StartResult = self._commit(lambda tx: self._start(
            tx, defn, dict(input or {}), idempotency_key, on_conflict, None))
        return result

    def _start(self, tx: _Tx, defn: WorkflowDef, input: dict[str, Any], key: str | None,
               on_conflict: OnConflict, parent: tuple[str, str] | None) -> StartResult:
        if key is not None:
            found = tx.conn.execute(Q.EXECUTION_BY_KEY, {"key": key}).first()
            if found is not None:
                if on_conflict == "fail":
                    raise StartConflict(key, found.id)
                return StartResult(found.id, False, found.status)
        execution = ExecutionRow(
            id=new_id(), name=defn.name, version=defn.version, status=RUNNING, input=input,
            definition=defn.to_dict(), idempotency_key=key,
            parent_id=parent[0] if parent else None, parent_task_id=parent[1] if parent else None,
            created_at=tx.now, updated_at=tx.now)
        tx.conn.execute(Q.INSERT_EXECUTION, execution_values(execution))
        self._decide(tx, execution)
        return StartResult(execution.id, True, RUNNING)

    # --- loading ---------------------------------------------------------------------------
    def _lock(self, tx: _Tx, execution_id: str) -> ExecutionRow:
        row = tx.conn.execute(Q.EXECUTION_FOR_UPDATE, {"eid": execution_id}).first()
        if row is None:
            raise NotFound(f"no execution {execution_id}")
        return execution_from_row(row)

    def _tasks(self, conn: Connection, execution_id: str) -> list[TaskRow]:
        rows = conn.execute(Q.TASKS_OF, {"eid": execution_id}).all()
        return [task_from_row(r) for r in rows]

    def _task_for_update(self, tx: _Tx, task_id: str) -> tuple[ExecutionRow, TaskRow]:
        found = tx.conn.execute(Q.TASK_EXECUTION, {"tid": task_id}).first()
        if found is None:
            raise NotFound(f"no task {task_id}")
        execution = self._lock(tx, found.execution_id)  # lock order: execution, then task
        row = tx.conn.execute(Q.TASK_BY_ID, {"tid": task_id}).one()
        return execution, task_from_row(row)

    def _set_task(self, tx: _Tx, task_id: str, **values: Any) -> None:
        tx.conn.execute(Q.UPDATE_TASK, {"tid": task_id,
                                        **{k: encode(k, v) for k, v in values.items()}})

    def _set_execution(self, tx: _Tx, execution: ExecutionRow, **values: Any) -> None:
        for key, value in values.items():
            setattr(execution, key, value)
        execution.updated_at = tx.now
        tx.conn.execute(Q.UPDATE_EXECUTION, {"eid": execution.id, "updated_at": tx.now,
                                             **{k: encode(k, v) for k, v in values.items()}})

    def _note(self, tx: _Tx, execution: ExecutionRow, text: str) -> None:
        """Append a line to the execution's operator-visible history (rare events only)."""
        stamp = time.strftime("%H:%M:%S", time.gmtime(tx.now))
        self._set_execution(tx, execution, notes=[*execution.notes, f"{stamp} {text}"][-200:])

    def _insert_task(self, tx: _Tx, row: TaskRow) -> TaskRow:
        result = tx.conn.execute(Q.INSERT_TASK, task_values(row))
        key = result.inserted_primary_key
        assert key is not None
        row.seq = int(key[0])
        if row.status == SCHEDULED and row.queue:
            tx.ready.add(row.queue)
        return row

    # --- deciding --------------------------------------------------------------------------
    def _decide(self, tx: _Tx, execution: ExecutionRow) -> None:
        """Run the decider on a locked execution and apply what it says."""
        defn = self._pinned(execution)
        rows = self._tasks(tx.conn, execution.id)
        decision = decider.decide(defn, execution, rows)
        for task_id in decision.cancel:
            self._set_task(tx, task_id, status=CANCELED, ended_at=tx.now, lease_until=None)
        attempts: dict[tuple[str, str], TaskRow] = {}
        for row in rows:
            attempts[(row.kind, row.ref)] = row
        for new in decision.new_tasks:
            previous = attempts.get((new.kind, new.ref))
            attempt = previous.attempt + 1 if previous else 1
            row = TaskRow(
                id=new_id(), execution_id=execution.id, ref=new.ref, kind=new.kind,
                type=new.type, name=new.name, queue=new.queue, status=new.status,
                attempt=attempt, first_attempt=attempt, seq=0, input=new.input,
                output=new.output, scheduled_at=tx.now, lease_s=new.lease_s,
                started_at=tx.now if new.status != SCHEDULED else None,
                ended_at=tx.now if new.status == COMPLETED else None,
                wake_at=None if new.wake_after_s is None else tx.now + new.wake_after_s)
            self._insert_task(tx, row)
            if new.child is not None:
                child_defn = self.definition(*new.child)
                started = self._start(tx, child_defn, new.input, f"child:{row.id}",
                                      "return_existing", (execution.id, row.id))
                self._set_task(tx, row.id, child_id=started.id)
        if decision.status is None or decision.status == execution.status:
            return
        if decision.status == COMPENSATING:
            self._set_execution(tx, execution, status=COMPENSATING, reason=decision.reason)
            self._note(tx, execution, f"compensating: {decision.reason}")
            return
        self._finish(tx, execution, decision.status, decision.output, decision.reason)

    def _finish(self, tx: _Tx, execution: ExecutionRow, status: str,
                output: dict[str, Any] | None, reason: str | None) -> None:
        self._set_execution(tx, execution, status=status, output=output, reason=reason,
                            ended_at=tx.now)
        if status == FAILED:
            self._start_failure_workflow(tx, execution)
        if execution.parent_task_id is not None:
            self._child_finished(tx, execution)

    def _start_failure_workflow(self, tx: _Tx, execution: ExecutionRow) -> None:
        name = self._pinned(execution).failure_workflow
        if name is None:
            return
        try:
            defn = self.definition(name)
        except NotFound:
            self._note(tx, execution, f"failure workflow {name!r} is not registered")
            return
        started = self._start(tx, defn, {"workflow_id": execution.id, "name": execution.name,
                                         "reason": execution.reason, "input": execution.input},
                              f"failure:{execution.id}", "return_existing", None)
        self._set_execution(tx, execution, failure_execution_id=started.id)

    def _child_finished(self, tx: _Tx, child: ExecutionRow) -> None:
        assert child.parent_id is not None and child.parent_task_id is not None
        parent = self._lock(tx, child.parent_id)
        row = task_from_row(tx.conn.execute(
            Q.TASK_BY_ID, {"tid": child.parent_task_id}).one())
        if row.status != IN_PROGRESS:
            return
        if child.status == COMPLETED:
            self._record_success(tx, parent, row, child.output or {})
        else:
            self._record_failure(tx, parent, row, f"sub-workflow {child.id} {child.status}: "
                                 f"{child.reason}", retryable=True)

    # --- results ---------------------------------------------------------------------------
    def _record_success(self, tx: _Tx, execution: ExecutionRow, row: TaskRow,
                        output: dict[str, Any]) -> None:
        self._set_task(tx, row.id, status=COMPLETED, output=output, ended_at=tx.now,
                       lease_until=None, error=None)
        if row.kind == COMPENSATION:
            forward = decider.latest(self._tasks(tx.conn, execution.id)).get(row.ref)
            if forward is not None and forward.status in (COMPLETED, FAILED):
                self._set_task(tx, forward.id, status=COMPENSATED)
        self._decide(tx, execution)

    def _policy(self, execution: ExecutionRow, row: TaskRow) -> RetryPolicy:
        task = self._pinned(execution).task(row.ref)
        if row.kind == COMPENSATION and task.compensation is not None:
            return task.compensation.retry
        return task.retry

    def _record_failure(self, tx: _Tx, execution: ExecutionRow, row: TaskRow, error: str,
                        retryable: bool) -> None:
        self._set_task(tx, row.id, status=FAILED, error=error[:4000], retryable=retryable,
                       ended_at=tx.now, lease_until=None)
        policy = self._policy(execution, row)
        if retryable and policy.allows(row.round_attempt) and execution.status in ACTIVE:
            delay = policy.delay(row.round_attempt, self.rng)
            status = HELD if execution.status == PAUSED else SCHEDULED
            self._insert_task(tx, TaskRow(
                id=new_id(), execution_id=execution.id, ref=row.ref, kind=row.kind,
                type=row.type, name=row.name, queue=row.queue, status=status,
                attempt=row.attempt + 1, first_attempt=row.first_attempt, seq=0,
                input=row.input, scheduled_at=tx.now + delay, lease_s=row.lease_s))
            return
        self._decide(tx, execution)

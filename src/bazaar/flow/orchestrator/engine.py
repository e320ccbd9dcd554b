"""The orchestrator core: every state change and the decision it triggers, in one transaction.

Synchronous and I/O-bound only on the store; the HTTP API (:mod:`.api`) is a thin async shell
around it. Each public method opens one transaction, locks the execution row it changes (one
decider per execution at a time, across processes), records the change, runs the pure
:func:`~.decider.decide`, applies the decision, and commits. Work is persisted before it is
handed to a worker (``poll`` commits the lease before returning) and after each result.
"""

from __future__ import annotations

import functools
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
    FlowError,
    InvalidState,
    LeaseLost,
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
    FINISHED,
    HELD,
    IN_FLIGHT,
    IN_PROGRESS,
    PAUSED,
    RUNNING,
    SCHEDULED,
    TERMINATED,
    ExecutionRow,
    TaskRow,
)
from bazaar.flow.orchestrator.store import (
    Store,
    definitions,
    encode,
    execution_from_row,
    execution_values,
    executions,
    task_from_row,
    task_values,
    tasks,
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


class Orchestrator:
    """A durable, Conductor-style workflow engine over a :class:`Store`."""

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

    def complete(self, task_id: str, output: Mapping[str, Any] | None = None, *,
                 worker_id: str | None = None) -> bool:
        """Record a task's result. True if it counted; False if the task had already finished
        (a duplicate or late report: acknowledged, ignored). The first result wins, even from
        a worker whose lease lapsed meanwhile."""
        def run(tx: _Tx) -> bool:
            execution, row = self._task_for_update(tx, task_id)
            if row.status not in IN_FLIGHT:
                return False
            if worker_id is not None and row.worker_id not in (None, worker_id):
                self._note(tx, execution, f"{row.ref}: result from {worker_id} after its lease "
                           f"moved to {row.worker_id}; accepted (first result wins)")
            self._record_success(tx, execution, row, dict(output or {}))
            return True

        accepted: bool = self._commit(run)
        return accepted

    def fail(self, task_id: str, error: str, *, retryable: bool = True,
             worker_id: str | None = None) -> bool:
        """Record a failed attempt; retried per the task's policy unless ``retryable`` is
        False. Returns False if the task had already finished (ignored)."""
        def run(tx: _Tx) -> bool:
            execution, row = self._task_for_update(tx, task_id)
            if row.status not in IN_FLIGHT:
                return False
            self._record_failure(tx, execution, row, error, retryable)
            return True

        accepted: bool = self._commit(run)
        return accepted

    def report(self, results: list[Mapping[str, Any]]) -> list[bool | str]:
        """Record many results in one transaction (each in its own savepoint, so one bad item
        changes nothing else). Items: ``{"task_id", "status": "COMPLETED" | "FAILED",
        "output" | "error", "retryable", "worker"}``. Per item: True (counted), False
        (already finished: ignored), or the error message."""
        def run(tx: _Tx) -> list[bool | str]:
            answers: list[bool | str] = []
            for item in results:
                try:
                    with tx.conn.begin_nested():
                        answers.append(self._report_one(tx, item))
                except (FlowError, KeyError, TypeError, ValueError) as exc:
                    answers.append(str(exc) or type(exc).__name__)
            return answers

        answers: list[bool | str] = self._commit(run)
        return answers

    def _report_one(self, tx: _Tx, item: Mapping[str, Any]) -> bool:
        execution, row = self._task_for_update(tx, str(item["task_id"]))
        if row.status not in IN_FLIGHT:
            return False
        if item.get("status", COMPLETED) == COMPLETED:
            output = item.get("output") or {}
            if not isinstance(output, dict):
                raise ValueError("output must be a JSON object")
            self._record_success(tx, execution, row, output)
        else:
            self._record_failure(tx, execution, row, str(item.get("error") or "failed"),
                                 bool(item.get("retryable", True)))
        return True

    # --- workers ---------------------------------------------------------------------------
    def poll(self, queue: str, worker_id: str, count: int = 1) -> list[TaskRow]:
        """Lease up to ``count`` due tasks of ``queue`` to ``worker_id``, committed before
        they are returned. Respects the queue's concurrency limit."""
        if count < 1:
            raise ValueError("count must be >= 1")

        def run(tx: _Tx) -> list[TaskRow]:
            self.last_poll[queue] = (tx.now, worker_id)
            room = count
            limit = self.config.concurrency_limits.get(queue)
            if limit is not None:
                if not self.store.is_sqlite:
                    tx.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
                        sa.func.hashtext(queue))))
                busy = tx.conn.execute(sa.select(sa.func.count()).select_from(tasks).where(
                    tasks.c.queue == queue, tasks.c.status == IN_PROGRESS)).scalar_one()
                room = min(count, limit - int(busy))
                if room <= 0:
                    return []
            ids = list(tx.conn.execute(
                sa.select(tasks.c.id).where(tasks.c.queue == queue,
                                            tasks.c.status == SCHEDULED,
                                            tasks.c.scheduled_at <= tx.now)
                .order_by(tasks.c.scheduled_at, tasks.c.seq).limit(room)
                .with_for_update(skip_locked=True)).scalars())
            if not ids:
                return []
            tx.conn.execute(tasks.update().where(tasks.c.id.in_(ids)).values(
                status=IN_PROGRESS, worker_id=worker_id,
                started_at=sa.func.coalesce(tasks.c.started_at, tx.now),
                lease_until=tx.now + tasks.c.lease_s, deliveries=tasks.c.deliveries + 1))
            rows = tx.conn.execute(sa.select(tasks).where(tasks.c.id.in_(ids))
                                   .order_by(tasks.c.seq)).all()
            return [task_from_row(r) for r in rows]

        leased: list[TaskRow] = self._commit(run)
        return leased

    def heartbeat(self, task_id: str, worker_id: str, extend_s: float | None = None) -> float:
        """Extend a lease; returns the new expiry. :class:`LeaseLost` if the task is no
        longer in progress for this worker (stop working on it)."""
        def run(tx: _Tx) -> float:
            row = tx.conn.execute(Q.TASK_BY_ID, {"tid": task_id}).first()
            if row is None:
                raise NotFound(f"no task {task_id}")
            if row.status != IN_PROGRESS or row.worker_id != worker_id:
                raise LeaseLost(f"task {task_id} is {row.status}, leased to {row.worker_id}")
            until = tx.now + (extend_s if extend_s is not None else row.lease_s)
            self._set_task(tx, task_id, lease_until=until)
            return until

        until: float = self._commit(run)
        return until

    # --- the sweeper -----------------------------------------------------------------------
    def sweep(self) -> SweepReport:
        """Reschedule tasks whose lease lapsed and fire due timers. Safe to run anywhere,
        any time, concurrently: it only acts on what is overdue, row by row."""
        report = SweepReport()
        now = self.clock()
        with self.store.read() as conn:
            lapsed = list(conn.execute(sa.select(tasks.c.id).where(
                tasks.c.status == IN_PROGRESS, tasks.c.queue != "",
                tasks.c.lease_until < now).limit(self.config.sweep_batch)).scalars())
            timers = list(conn.execute(sa.select(tasks.c.id).where(
                tasks.c.status == IN_PROGRESS, tasks.c.type == "WAIT",
                tasks.c.wake_at <= now).limit(self.config.sweep_batch)).scalars())
        for task_id in lapsed:
            if self._commit(functools.partial(self._lapse, task_id=task_id)):
                report.leases_lapsed += 1
        for task_id in timers:
            if self._commit(functools.partial(self._fire, task_id=task_id)):
                report.timers_fired += 1
        return report

    def _lapse(self, tx: _Tx, task_id: str) -> bool:
        execution, row = self._task_for_update(tx, task_id)
        if row.status != IN_PROGRESS or row.lease_until is None or row.lease_until >= tx.now:
            return False
        self._set_task(tx, task_id, status=HELD if execution.status == PAUSED else SCHEDULED,
                       worker_id=None, lease_until=None, scheduled_at=tx.now)
        tx.ready.add(row.queue)
        self._note(tx, execution, f"{row.ref}: lease of {row.worker_id} lapsed (delivery "
                   f"{row.deliveries}); redelivering the same attempt, key {row.idempotency_key}")
        return True

    def _fire(self, tx: _Tx, task_id: str) -> bool:
        execution, row = self._task_for_update(tx, task_id)
        if row.status != IN_PROGRESS or row.wake_at is None or row.wake_at > tx.now:
            return False
        self._record_success(tx, execution, row, {"fired_at": tx.now})
        return True

    # --- operator controls -----------------------------------------------------------------
    def signal(self, execution_id: str, ref: str, output: Mapping[str, Any] | None = None
               ) -> None:
        """Complete a WAIT (or EVENT wait) task from outside: the external-completion path."""
        def run(tx: _Tx) -> None:
            execution = self._lock(tx, execution_id)
            row = decider.latest(self._tasks(tx.conn, execution_id)).get(ref)
            if row is None or row.status != IN_PROGRESS or row.type not in ("WAIT", "EVENT"):
                state = "not started" if row is None else f"{row.type} {row.status}"
                raise InvalidState(f"{ref} is not waiting for a signal ({state})")
            self._record_success(tx, execution, row, dict(output or {}))

        self._commit(run)

    def pause(self, execution_id: str) -> None:
        """Stop dispatching: queued tasks are held; tasks already leased may finish."""
        def run(tx: _Tx) -> None:
            execution = self._lock(tx, execution_id)
            if execution.status != RUNNING:
                raise InvalidState(f"only a RUNNING execution can be paused, not "
                                   f"{execution.status}")
            tx.conn.execute(tasks.update().where(tasks.c.execution_id == execution_id,
                                                 tasks.c.status == SCHEDULED)
                            .values(status=HELD))
            self._set_execution(tx, execution, status=PAUSED)
            self._note(tx, execution, "paused")

        self._commit(run)

    def resume(self, execution_id: str) -> None:
        """Release held tasks and carry on."""
        def run(tx: _Tx) -> None:
            execution = self._lock(tx, execution_id)
            if execution.status != PAUSED:
                raise InvalidState(f"only a PAUSED execution can be resumed, not "
                                   f"{execution.status}")
            held = [task_from_row(r) for r in tx.conn.execute(sa.select(tasks).where(
                tasks.c.execution_id == execution_id, tasks.c.status == HELD))]
            for row in held:
                self._set_task(tx, row.id, status=SCHEDULED)
                tx.ready.add(row.queue)
            self._set_execution(tx, execution, status=RUNNING)
            self._note(tx, execution, "resumed")
            self._decide(tx, execution)

        self._commit(run)

    def terminate(self, execution_id: str, reason: str = "terminated by operator") -> None:
        """Stop an execution now: cancel what is queued or running (no compensation)."""
        def run(tx: _Tx) -> None:
            self._terminate(tx, self._lock(tx, execution_id), reason)

        self._commit(run)

    def _terminate(self, tx: _Tx, execution: ExecutionRow, reason: str) -> None:
        if execution.status not in ACTIVE:
            raise InvalidState(f"{execution.id} is already {execution.status}")
        for row in self._tasks(tx.conn, execution.id):
            if row.status in IN_FLIGHT:
                self._set_task(tx, row.id, status=CANCELED, ended_at=tx.now, lease_until=None)
                if row.child_id is not None:
                    child = self._lock(tx, row.child_id)
                    if child.status in ACTIVE:
                        self._terminate(tx, child, f"parent {execution.id} terminated")
        self._note(tx, execution, f"terminated: {reason}")
        self._finish(tx, execution, TERMINATED, None, reason)

    def retry(self, execution_id: str) -> None:
        """Resume a FAILED or TERMINATED execution from where it stopped, with fresh retry
        budgets: a failed compensation is attempted again, else failed, canceled and
        compensated steps run again."""
        def run(tx: _Tx) -> None:
            execution = self._lock(tx, execution_id)
            if execution.status not in (FAILED, TERMINATED):
                raise InvalidState(f"only FAILED or TERMINATED executions can be retried, not "
                                   f"{execution.status}")
            rows = self._tasks(tx.conn, execution_id)
            forward, undo = decider.latest(rows), decider.latest(rows, COMPENSATION)
            stuck_undo = [u for u in undo.values() if u.status == FAILED
                          and forward.get(u.ref) is not None and forward[u.ref].seq < u.seq
                          and forward[u.ref].status == COMPLETED]
            again = stuck_undo or [r for r in forward.values() if r.status == FAILED]
            for row in again:
                self._insert_task(tx, TaskRow(
                    id=new_id(), execution_id=execution_id, ref=row.ref, kind=row.kind,
                    type=row.type, name=row.name, queue=row.queue, status=SCHEDULED,
                    attempt=row.attempt + 1, first_attempt=row.attempt + 1, seq=0,
                    input=row.input, scheduled_at=tx.now, lease_s=row.lease_s))
            status = COMPENSATING if stuck_undo else RUNNING
            self._set_execution(tx, execution, status=status, ended_at=None,
                                reason=execution.reason if stuck_undo else None, output=None)
            self._note(tx, execution, f"retried ({', '.join(r.ref for r in again) or 'resume'})")
            self._decide(tx, execution)

        self._commit(run)

    # --- inspection ------------------------------------------------------------------------
    def get(self, execution_id: str) -> ExecutionRow:
        with self.store.read() as conn:
            row = conn.execute(sa.select(executions).where(executions.c.id == execution_id)
                               ).first()
        if row is None:
            raise NotFound(f"no execution {execution_id}")
        return execution_from_row(row)

    def tasks(self, execution_id: str) -> list[TaskRow]:
        """Every attempt of every step (and compensation), in order: the per-task history."""
        with self.store.read() as conn:
            return self._tasks(conn, execution_id)

    def executions(self, *, status: str | None = None, name: str | None = None,
                   limit: int = 50) -> list[ExecutionRow]:
        """Most recent first."""
        query = sa.select(executions).order_by(executions.c.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(executions.c.status == status.upper())
        if name is not None:
            query = query.where(executions.c.name == name)
        with self.store.read() as conn:
            return [execution_from_row(r) for r in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        """Executions per status."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(executions.c.status, sa.func.count())
                                .group_by(executions.c.status)).all()
        return {str(r[0]): int(r[1]) for r in rows}

    def queue_depths(self) -> dict[str, dict[str, int]]:
        """Tasks per queue and status, for the queues that have any in flight."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(tasks.c.queue, tasks.c.status, sa.func.count())
                                .where(tasks.c.status.in_(list(IN_FLIGHT)), tasks.c.queue != "")
                                .group_by(tasks.c.queue, tasks.c.status)).all()
        out: dict[str, dict[str, int]] = {}
        for queue, status, n in rows:
            out.setdefault(str(queue), {})[str(status)] = int(n)
        return out


__all__ = ["FINISHED", "OnConflict", "Orchestrator", "OrchestratorConfig", "StartResult",
           "SweepReport"]

"""The orchestrator's operations: starting, results, leases, the sweeper, operator controls,
reads.

Synchronous and I/O-bound only on the store; the HTTP service (:mod:`.service`) is a thin
async shell around it. Each change is one transaction (see :mod:`.transitions`): work is
persisted before it is handed to a worker (``poll`` commits the lease before returning) and
after each result, with the next decision in the same transaction. Reads and writes go
through :class:`~.dao.ExecutionDao`; there is no SQL here.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bazaar.flow.errors import (
    FlowError,
    InvalidState,
    LeaseLost,
    NotFound,
)
from bazaar.flow.orchestrator import decider
from bazaar.flow.orchestrator.dao import ExecutionDao
from bazaar.flow.orchestrator.definition import WorkflowDef
from bazaar.flow.orchestrator.registry import Definitions
from bazaar.flow.orchestrator.state import (
    ACTIVE,
    CANCELED,
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
    TIMED_OUT,
    ExecutionRow,
    TaskRow,
)
from bazaar.flow.orchestrator.store import Store
from bazaar.flow.orchestrator.transitions import (
    OnConflict,
    StartResult,
    Transitions,
    Tx,
    new_id,
)


class _BadItem(Exception):
    """A batch of results had a bad item: redo the batch with a savepoint per item."""


@dataclass(frozen=True)
class OrchestratorConfig:
    """Engine settings. ``concurrency_limits`` caps in-progress tasks per queue (task type)."""

    concurrency_limits: Mapping[str, int] = field(default_factory=dict)
    sweep_batch: int = 500


@dataclass
class SweepReport:
    """What one sweep restored."""

    leases_lapsed: int = 0
    timers_fired: int = 0
    timed_out: int = 0


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
        self._definitions = Definitions(store)
        self._t = Transitions(self._definitions, self.rng)
        #: queue -> (time of the last poll, worker id): for "why is it stuck".
        self.last_poll: dict[str, tuple[float, str]] = {}

    # --- transactions ----------------------------------------------------------------------
    def _commit(self, fn: Callable[[Tx], Any]) -> Any:
        with self.store.begin() as conn:
            tx = Tx(ExecutionDao(conn, sqlite=self.store.is_sqlite), self.clock())
            result = fn(tx)
        if self.on_ready is not None:
            for queue in tx.ready:
                self.on_ready(queue)
        return result

    @contextmanager
    def _read(self) -> Iterator[ExecutionDao]:
        with self.store.read() as conn:
            yield ExecutionDao(conn, sqlite=self.store.is_sqlite)

    # --- definitions -----------------------------------------------------------------------
    def register(self, raw: Mapping[str, Any] | str | bytes) -> WorkflowDef:
        """Validate and store a definition. Re-registering an identical one is a no-op; a
        different body under an existing (name, version) is refused: bump the version."""
        return self._definitions.register(raw, self.clock())

    def definition(self, name: str, version: int | None = None) -> WorkflowDef:
        """A registered definition; the latest version when ``version`` is None."""
        return self._definitions.get(name, version)

    def definitions(self) -> list[tuple[str, int, str]]:
        """(name, version, description) of every registered definition."""
        return self._definitions.listing()

    # --- starting --------------------------------------------------------------------------
    def start(self, name: str, input: Mapping[str, Any] | None = None, *,
              version: int | None = None, idempotency_key: str | None = None,
              on_conflict: OnConflict = "return_existing",
              correlation_id: str | None = None) -> StartResult:
        """Start an execution pinned to the definition's current (or given) version.

        With an ``idempotency_key``, a repeat returns the existing execution
        (``on_conflict="return_existing"``) or raises :class:`StartConflict` (``"fail"``).
        ``correlation_id`` is the caller's own key (Conductor's correlationId; not unique):
        stored, and searchable with :meth:`correlated`.
        """
        if on_conflict not in ("return_existing", "fail"):
            raise ValueError("on_conflict must be 'return_existing' or 'fail'")
        defn = self.definition(name, version)
        result: StartResult = self._commit(lambda tx: self._t.start(
            tx, defn, dict(input or {}), idempotency_key, on_conflict, None, correlation_id))
        return result

    # --- results ---------------------------------------------------------------------------
    def complete(self, task_id: str, output: Mapping[str, Any] | None = None, *,
                 worker_id: str | None = None) -> bool:
        """Record a task's result. True if it counted; False if the task had already finished
        (a duplicate or late report: acknowledged, ignored). The first result wins, even from
        a worker whose lease lapsed meanwhile."""
        def run(tx: Tx) -> bool:
            execution, row = self._t.task_for_update(tx, task_id)
            if row.status not in IN_FLIGHT:
                return False
            if worker_id is not None and row.worker_id not in (None, worker_id):
                self._t.note(tx, execution, f"{row.ref}: result from {worker_id} after its lease "
                             f"moved to {row.worker_id}; accepted (first result wins)")
            self._t.record_success(tx, execution, row, dict(output or {}))
            return True

        accepted: bool = self._commit(run)
        return accepted

    def fail(self, task_id: str, error: str, *, retryable: bool = True,
             worker_id: str | None = None) -> bool:
        """Record a failed attempt; retried per the task's policy unless ``retryable`` is
        False. Returns False if the task had already finished (ignored)."""
        def run(tx: Tx) -> bool:
            execution, row = self._t.task_for_update(tx, task_id)
            if row.status not in IN_FLIGHT:
                return False
            self._t.record_failure(tx, execution, row, error, retryable)
            return True

        accepted: bool = self._commit(run)
        return accepted

    def report(self, results: list[Mapping[str, Any]]) -> list[bool | str]:
        """Record many results in one transaction (each in its own savepoint, so one bad item
        changes nothing else). Items: ``{"task_id", "status": "COMPLETED" | "FAILED",
        "output" | "error", "retryable", "worker"}``. Per item: True (counted), False
        (already finished: ignored), or the error message."""
        def optimistic(tx: Tx) -> list[bool | str]:
            # The common case, every item good: no savepoints (two statements per item).
            try:
                return [self._report_one(tx, item) for item in results]
            except (FlowError, KeyError, TypeError, ValueError) as exc:
                raise _BadItem from exc   # roll all of it back, and go item by item

        def careful(tx: Tx) -> list[bool | str]:
            answers: list[bool | str] = []
            for item in results:
                try:
                    with tx.dao.savepoint():
                        answers.append(self._report_one(tx, item))
                except (FlowError, KeyError, TypeError, ValueError) as exc:
                    answers.append(str(exc) or type(exc).__name__)
            return answers

        try:
            answers: list[bool | str] = self._commit(optimistic)
        except _BadItem:
            answers = self._commit(careful)
        return answers

    def _report_one(self, tx: Tx, item: Mapping[str, Any]) -> bool:
        execution, row = self._t.task_for_update(tx, str(item["task_id"]))
        if row.status not in IN_FLIGHT:
            return False
        if item.get("status", COMPLETED) == COMPLETED:
            output = item.get("output") or {}
            if not isinstance(output, dict):
                raise ValueError("output must be a JSON object")
            self._t.record_success(tx, execution, row, output)
        else:
            self._t.record_failure(tx, execution, row, str(item.get("error") or "failed"),
                                   bool(item.get("retryable", True)))
        return True

    # --- workers ---------------------------------------------------------------------------
    def poll(self, queue: str, worker_id: str, count: int = 1) -> list[TaskRow]:
        """Lease up to ``count`` due tasks of ``queue`` to ``worker_id``, committed before
        they are returned. Respects the queue's concurrency limit."""
        if count < 1:
            raise ValueError("count must be >= 1")

        def run(tx: Tx) -> list[TaskRow]:
            self.last_poll[queue] = (tx.now, worker_id)
            room = count
            limit = self.config.concurrency_limits.get(queue)
            if limit is not None:
                room = min(count, limit - tx.dao.in_progress_on(queue, lock=True))
                if room <= 0:
                    return []
            return tx.dao.lease_due(queue, worker_id, tx.now, room)

        leased: list[TaskRow] = self._commit(run)
        return leased

    def heartbeat(self, task_id: str, worker_id: str, extend_s: float | None = None) -> float:
        """Extend a lease; returns the new expiry. :class:`LeaseLost` if the task is no
        longer in progress for this worker (stop working on it)."""
        def run(tx: Tx) -> float:
            row = tx.dao.task(task_id)
            if row is None:
                raise NotFound(f"no task {task_id}")
            if row.status != IN_PROGRESS or row.worker_id != worker_id:
                raise LeaseLost(f"task {task_id} is {row.status}, leased to {row.worker_id}")
            until = tx.now + (extend_s if extend_s is not None else row.lease_s)
            self._t.set_task(tx, task_id, lease_until=until)
            return until

        until: float = self._commit(run)
        return until

    def postpone(self, task_id: str, delay_s: float, *, worker_id: str | None = None,
                 output: Mapping[str, Any] | None = None) -> bool:
        """Hand a leased task back, to be delivered again (the same attempt) after
        ``delay_s``: Conductor's IN_PROGRESS with ``callbackAfterSeconds``. ``output`` is kept
        on the task meanwhile. False if the task had already finished (ignored)."""
        if not 0 <= delay_s <= 86_400 * 365:
            raise ValueError("callbackAfterSeconds must be between 0 and a year")

        def run(tx: Tx) -> bool:
            execution, row = self._t.task_for_update(tx, task_id)
            if row.status not in IN_FLIGHT:
                return False
            if row.status == IN_PROGRESS and worker_id is not None \
                    and row.worker_id not in (None, worker_id):
                raise LeaseLost(f"task {task_id} is leased to {row.worker_id}, not {worker_id}")
            held = execution.status == PAUSED
            self._t.set_task(tx, task_id, status=HELD if held else SCHEDULED, worker_id=None,
                             lease_until=None, scheduled_at=tx.now + delay_s,
                             **({"output": dict(output)} if output else {}))
            return True

        accepted: bool = self._commit(run)
        return accepted

    # --- Conductor's task definitions and task logs ----------------------------------------
    def put_task_def(self, name: str, body: Mapping[str, Any]) -> None:
        self._commit(lambda tx: tx.dao.put_task_def(name, body, tx.now))

    def task_def(self, name: str) -> dict[str, Any]:
        with self._read() as dao:
            found = dao.task_def(name)
        if found is None:
            raise NotFound(f"no task definition {name!r}")
        return found

    def task_defs(self) -> list[dict[str, Any]]:
        with self._read() as dao:
            return dao.task_def_bodies()

    def delete_task_def(self, name: str) -> None:
        if not self._commit(lambda tx: tx.dao.delete_task_def(name)):
            raise NotFound(f"no task definition {name!r}")

    def add_task_logs(self, task_id: str, lines: list[str]) -> None:
        """Append lines to a task's log (Conductor's task execution logs)."""
        def run(tx: Tx) -> None:
            if tx.dao.task(task_id) is None:
                raise NotFound(f"no task {task_id}")
            tx.dao.add_task_logs(task_id, [(line, tx.now) for line in lines])

        self._commit(run)

    def task_logs(self, task_id: str) -> list[tuple[str, float]]:
        with self._read() as dao:
            if dao.task(task_id) is None:
                raise NotFound(f"no task {task_id}")
            return dao.task_logs(task_id)

    def task(self, task_id: str) -> TaskRow:
        with self._read() as dao:
            row = dao.task(task_id)
        if row is None:
            raise NotFound(f"no task {task_id}")
        return row

    # --- the sweeper -----------------------------------------------------------------------
    def sweep(self) -> SweepReport:
        """Reschedule tasks whose lease lapsed and fire due timers. Safe to run anywhere,
        any time, concurrently: it only acts on what is overdue, row by row."""
        report = SweepReport()
        now = self.clock()
        with self._read() as dao:
            lapsed = dao.lapsed_leases(now, self.config.sweep_batch)
            timers = dao.due_timers(now, self.config.sweep_batch)
            overdue = dao.overdue_executions(now, self.config.sweep_batch)
        for task_id in lapsed:
            if self._commit(functools.partial(self._lapse, task_id=task_id)):
                report.leases_lapsed += 1
        for task_id in timers:
            if self._commit(functools.partial(self._fire, task_id=task_id)):
                report.timers_fired += 1
        for execution_id in overdue:
            if self._commit(functools.partial(self._time_out, execution_id=execution_id)):
                report.timed_out += 1
        return report

    def _time_out(self, tx: Tx, execution_id: str) -> bool:
        execution = self._t.lock(tx, execution_id)
        if execution.status not in ACTIVE or execution.deadline_at is None \
                or execution.deadline_at > tx.now:
            return False
        limit = self._definitions.pinned(execution).timeout_s
        self._stop(tx, execution, TIMED_OUT, f"timed out: still {execution.status} after "
                   f"its timeout of {limit:g} s")
        return True

    def _lapse(self, tx: Tx, task_id: str) -> bool:
        execution, row = self._t.task_for_update(tx, task_id)
        if row.status != IN_PROGRESS or row.lease_until is None or row.lease_until >= tx.now:
            return False
        self._t.set_task(tx, task_id, status=HELD if execution.status == PAUSED else SCHEDULED,
                         worker_id=None, lease_until=None, scheduled_at=tx.now)
        tx.ready.add(row.queue)
        self._t.note(tx, execution, f"{row.ref}: lease of {row.worker_id} lapsed (delivery "
                     f"{row.deliveries}); redelivering the same attempt, key {row.idempotency_key}")
        return True

    def _fire(self, tx: Tx, task_id: str) -> bool:
        execution, row = self._t.task_for_update(tx, task_id)
        if row.status != IN_PROGRESS or row.wake_at is None or row.wake_at > tx.now:
            return False
        self._t.record_success(tx, execution, row, {"fired_at": tx.now})
        return True

    # --- operator controls -----------------------------------------------------------------
    def signal(self, execution_id: str, ref: str, output: Mapping[str, Any] | None = None
               ) -> None:
        """Complete a WAIT (or EVENT wait) task from outside: the external-completion path."""
        def run(tx: Tx) -> None:
            execution = self._t.lock(tx, execution_id)
            row = decider.latest(tx.dao.tasks_of(execution_id)).get(ref)
            if row is None or row.status != IN_PROGRESS or row.type not in ("WAIT", "EVENT"):
                state = "not started" if row is None else f"{row.type} {row.status}"
                raise InvalidState(f"{ref} is not waiting for a signal ({state})")
            self._t.record_success(tx, execution, row, dict(output or {}))

        self._commit(run)

    def pause(self, execution_id: str) -> None:
        """Stop dispatching: queued tasks are held; tasks already leased may finish."""
        def run(tx: Tx) -> None:
            execution = self._t.lock(tx, execution_id)
            if execution.status != RUNNING:
                raise InvalidState(f"only a RUNNING execution can be paused, not "
                                   f"{execution.status}")
            tx.dao.set_status_of_tasks(execution_id, SCHEDULED, HELD)
            self._t.set_execution(tx, execution, status=PAUSED)
            self._t.note(tx, execution, "paused")

        self._commit(run)

    def resume(self, execution_id: str) -> None:
        """Release held tasks and carry on."""
        def run(tx: Tx) -> None:
            execution = self._t.lock(tx, execution_id)
            if execution.status != PAUSED:
                raise InvalidState(f"only a PAUSED execution can be resumed, not "
                                   f"{execution.status}")
            held = tx.dao.tasks_of(execution_id, status=HELD)
            for row in held:
                self._t.set_task(tx, row.id, status=SCHEDULED)
                tx.ready.add(row.queue)
            self._t.set_execution(tx, execution, status=RUNNING)
            self._t.note(tx, execution, "resumed")
            self._t.decide(tx, execution)

        self._commit(run)

    def terminate(self, execution_id: str, reason: str = "terminated by operator") -> None:
        """Stop an execution now: cancel what is queued or running (no compensation)."""
        def run(tx: Tx) -> None:
            self._terminate(tx, self._t.lock(tx, execution_id), reason)

        self._commit(run)

    def _terminate(self, tx: Tx, execution: ExecutionRow, reason: str) -> None:
        if execution.status not in ACTIVE:
            raise InvalidState(f"{execution.id} is already {execution.status}")
        self._stop(tx, execution, TERMINATED, reason)

    def _stop(self, tx: Tx, execution: ExecutionRow, status: str, reason: str) -> None:
        """Cancel what is queued or running (children too) and end as ``status``."""
        for row in tx.dao.tasks_of(execution.id):
            if row.status in IN_FLIGHT:
                self._t.set_task(tx, row.id, status=CANCELED, ended_at=tx.now, lease_until=None)
                if row.child_id is not None:
                    child = self._t.lock(tx, row.child_id)
                    if child.status in ACTIVE:
                        self._terminate(tx, child, f"parent {execution.id} terminated")
        self._t.note(tx, execution, f"{status.lower().replace('_', ' ')}: {reason}")
        self._t.finish(tx, execution, status, None, reason)

    def retry(self, execution_id: str) -> None:
        """Resume a FAILED or TERMINATED execution from where it stopped, with fresh retry
        budgets: a failed compensation is attempted again, else failed, canceled and
        compensated steps run again."""
        def run(tx: Tx) -> None:
            execution = self._t.lock(tx, execution_id)
            if execution.status not in (FAILED, TERMINATED, TIMED_OUT):
                raise InvalidState(f"only FAILED, TERMINATED or TIMED_OUT executions can be "
                                   f"retried, not "
                                   f"{execution.status}")
            rows = tx.dao.tasks_of(execution_id)
            forward, undo = decider.latest(rows), decider.latest(rows, COMPENSATION)
            stuck_undo = [u for u in undo.values() if u.status == FAILED
                          and forward.get(u.ref) is not None and forward[u.ref].seq < u.seq
                          and forward[u.ref].status == COMPLETED]
            again = stuck_undo or [r for r in forward.values() if r.status == FAILED]
            for row in again:
                self._t.insert_task(tx, TaskRow(
                    id=new_id(), execution_id=execution_id, ref=row.ref, kind=row.kind,
                    type=row.type, name=row.name, queue=row.queue, status=SCHEDULED,
                    attempt=row.attempt + 1, first_attempt=row.attempt + 1, seq=0,
                    input=row.input, scheduled_at=tx.now, lease_s=row.lease_s))
            status = COMPENSATING if stuck_undo else RUNNING
            limit = self._definitions.pinned(execution).timeout_s
            self._t.set_execution(tx, execution, status=status, ended_at=None,
                                  reason=execution.reason if stuck_undo else None, output=None,
                                  deadline_at=None if limit is None else tx.now + limit)
            self._t.note(tx, execution, f"retried ({', '.join(r.ref for r in again) or 'resume'})")
            self._t.decide(tx, execution)

        self._commit(run)

    # --- inspection ------------------------------------------------------------------------
    def get(self, execution_id: str) -> ExecutionRow:
        with self._read() as dao:
            execution = dao.execution(execution_id)
        if execution is None:
            raise NotFound(f"no execution {execution_id}")
        return execution

    def tasks(self, execution_id: str) -> list[TaskRow]:
        """Every attempt of every step (and compensation), in order: the per-task history."""
        with self._read() as dao:
            return dao.tasks_of(execution_id)

    def executions(self, *, status: str | None = None, name: str | None = None,
                   limit: int = 50) -> list[ExecutionRow]:
        """Most recent first."""
        with self._read() as dao:
            return dao.recent_executions(status.upper() if status is not None else None,
                                         name, limit)

    def correlated(self, name: str, correlation_id: str, *, include_closed: bool = True,
                   limit: int = 1000) -> list[ExecutionRow]:
        """Executions of ``name`` started with ``correlation_id``, oldest first; only active
        ones unless ``include_closed``."""
        with self._read() as dao:
            return dao.correlated(name, correlation_id, include_closed, limit)

    def counts(self) -> dict[str, int]:
        """Executions per status."""
        with self._read() as dao:
            return dao.executions_per_status()

    def queue_depths(self) -> dict[str, dict[str, int]]:
        """Tasks per queue and status, for the queues that have any in flight."""
        with self._read() as dao:
            return dao.queue_depths()

    def waiting_events(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(execution id, ref, input) of every EVENT task waiting for a record."""
        with self._read() as dao:
            return dao.event_waits()


__all__ = ["FINISHED", "OnConflict", "Orchestrator", "OrchestratorConfig", "StartResult",
           "SweepReport"]

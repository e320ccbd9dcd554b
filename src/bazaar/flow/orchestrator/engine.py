"""The orchestrator's operations: results, leases, the sweeper, operator controls, reads.

Synchronous and I/O-bound only on the store; the HTTP API (:mod:`.api`) is a thin async shell
around it. Each change is one transaction (see :mod:`.core`): work is persisted before it is
handed to a worker (``poll`` commits the lease before returning) and after each result, with
the next decision in the same transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from bazaar.flow.errors import (
    FlowError,
    InvalidState,
    LeaseLost,
    NotFound,
)
from bazaar.flow.orchestrator import decider
from bazaar.flow.orchestrator import store as Q
from bazaar.flow.orchestrator.core import (
    EngineCore,
    OnConflict,
    OrchestratorConfig,
    StartResult,
    SweepReport,
    _Tx,
    new_id,
)
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
    ExecutionRow,
    TaskRow,
)
from bazaar.flow.orchestrator.store import (
    execution_from_row,
    executions,
    task_from_row,
    tasks,
)


class Orchestrator(EngineCore):
    """A durable, Conductor-style workflow engine over a :class:`Store`."""

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

"""How an execution moves: start it, record a result, run the decider, apply its decision.

Every step runs inside one transaction (:class:`Tx`) that holds the execution's lock — one
decider per execution at a time, across processes — and the decision is applied before the
transaction commits, so the change that triggered it and its consequences land together.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from bazaar.flow.errors import NotFound, StartConflict
from bazaar.flow.orchestrator import decider
from bazaar.flow.orchestrator.dao import ExecutionDao
from bazaar.flow.orchestrator.definition import WorkflowDef
from bazaar.flow.orchestrator.registry import Definitions
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
    TIMED_OUT,
    ExecutionRow,
    TaskRow,
)

OnConflict = Literal["return_existing", "fail"]


@dataclass(frozen=True)
class StartResult:
    """The execution a start call refers to; ``created`` is False for an idempotent repeat."""

    id: str
    created: bool
    status: str


@dataclass
class Tx:
    """One open transaction: the tables, its clock reading, the queues it made ready."""

    dao: ExecutionDao
    now: float
    ready: set[str] = field(default_factory=set)


def new_id() -> str:
    return uuid.uuid4().hex


class Transitions:
    """The decide-and-record machinery every engine operation is built from."""

    def __init__(self, definitions: Definitions, rng: random.Random) -> None:
        self.definitions = definitions
        self.rng = rng

    # --- loading ---------------------------------------------------------------------------
    def lock(self, tx: Tx, execution_id: str) -> ExecutionRow:
        execution = tx.dao.execution(execution_id, lock=True)
        if execution is None:
            raise NotFound(f"no execution {execution_id}")
        return execution

    def task_for_update(self, tx: Tx, task_id: str) -> tuple[ExecutionRow, TaskRow]:
        row = tx.dao.task(task_id)
        if row is None:
            raise NotFound(f"no task {task_id}")
        execution = self.lock(tx, row.execution_id)  # lock order: execution, then task
        if not tx.dao.single_writer:
            # PostgreSQL: the row may have moved before the execution's lock was ours.
            row = tx.dao.task(task_id)
            assert row is not None
        # SQLite: this transaction has held the database's one write lock since BEGIN
        # IMMEDIATE, so the row read above is current (one statement saved per result).
        return execution, row

    # --- writing ---------------------------------------------------------------------------
    def set_task(self, tx: Tx, task_id: str, **values: Any) -> None:
        tx.dao.update_task(task_id, values)

    def set_execution(self, tx: Tx, execution: ExecutionRow, **values: Any) -> None:
        for key, value in values.items():
            setattr(execution, key, value)
        execution.updated_at = tx.now
        tx.dao.update_execution(execution.id, {"updated_at": tx.now, **values})

    def note(self, tx: Tx, execution: ExecutionRow, text: str) -> None:
        """Append a line to the execution's operator-visible history (rare events only)."""
        stamp = time.strftime("%H:%M:%S", time.gmtime(tx.now))
        self.set_execution(tx, execution, notes=[*execution.notes, f"{stamp} {text}"][-200:])

    def insert_task(self, tx: Tx, row: TaskRow) -> TaskRow:
        row.seq = tx.dao.add_task(row)
        if row.status == SCHEDULED and row.queue:
            tx.ready.add(row.queue)
        return row

    # --- starting --------------------------------------------------------------------------
    def start(self, tx: Tx, defn: WorkflowDef, input: dict[str, Any], key: str | None,
              on_conflict: OnConflict, parent: tuple[str, str] | None,
              correlation_id: str | None = None) -> StartResult:
        if key is not None:
            found = tx.dao.execution_by_key(key)
            if found is not None:
                if on_conflict == "fail":
                    raise StartConflict(key, found[0])
                return StartResult(found[0], False, found[1])
        execution = ExecutionRow(
            id=new_id(), name=defn.name, version=defn.version, status=RUNNING, input=input,
            definition=defn.to_dict(), idempotency_key=key,
            parent_id=parent[0] if parent else None, parent_task_id=parent[1] if parent else None,
            created_at=tx.now, updated_at=tx.now, correlation_id=correlation_id,
            deadline_at=None if defn.timeout_s is None else tx.now + defn.timeout_s)
        tx.dao.add_execution(execution)
        self.decide(tx, execution)
        return StartResult(execution.id, True, RUNNING)

    # --- deciding --------------------------------------------------------------------------
    def decide(self, tx: Tx, execution: ExecutionRow) -> None:
        """Run the decider on a locked execution and apply what it says."""
        defn = self.definitions.pinned(execution)
        rows = tx.dao.tasks_of(execution.id)
        decision = decider.decide(defn, execution, rows)
        for task_id in decision.cancel:
            self.set_task(tx, task_id, status=CANCELED, ended_at=tx.now, lease_until=None)
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
            self.insert_task(tx, row)
            if new.child is not None:
                child_defn = self.definitions.get(*new.child)
                started = self.start(tx, child_defn, new.input, f"child:{row.id}",
                                     "return_existing", (execution.id, row.id))
                self.set_task(tx, row.id, child_id=started.id)
        if decision.status is None or decision.status == execution.status:
            return
        if decision.status == COMPENSATING:
            self.set_execution(tx, execution, status=COMPENSATING, reason=decision.reason)
            self.note(tx, execution, f"compensating: {decision.reason}")
            return
        self.finish(tx, execution, decision.status, decision.output, decision.reason)

    def finish(self, tx: Tx, execution: ExecutionRow, status: str,
               output: dict[str, Any] | None, reason: str | None) -> None:
        self.set_execution(tx, execution, status=status, output=output, reason=reason,
                           ended_at=tx.now)
        if status in (FAILED, TIMED_OUT):
            self._start_failure_workflow(tx, execution)
        if execution.parent_task_id is not None:
            self._child_finished(tx, execution)

    def _start_failure_workflow(self, tx: Tx, execution: ExecutionRow) -> None:
        name = self.definitions.pinned(execution).failure_workflow
        if name is None:
            return
        try:
            defn = self.definitions.get(name)
        except NotFound:
            self.note(tx, execution, f"failure workflow {name!r} is not registered")
            return
        if "conductor" in self.definitions.pinned(execution).raw:
            # Conductor's failure-workflow input: the failed workflow's own input, plus who
            # failed and why (so a compensation reads ``${workflow.input.order_id}`` there
            # as here, and the same definitions run on Conductor OSS).
            input: dict[str, Any] = {
                **execution.input, "workflowId": execution.id, "reason": execution.reason,
                "failureStatus": execution.status,
                "failedWorkflow": {"workflowId": execution.id, "workflowName": execution.name,
                                   "workflowVersion": execution.version,
                                   "input": execution.input, "status": execution.status,
                                   "reasonForIncompletion": execution.reason}}
        else:
            input = {"workflow_id": execution.id, "name": execution.name,
                     "reason": execution.reason, "input": execution.input}
        started = self.start(tx, defn, input, f"failure:{execution.id}", "return_existing",
                             None, execution.correlation_id)
        self.set_execution(tx, execution, failure_execution_id=started.id)

    def _child_finished(self, tx: Tx, child: ExecutionRow) -> None:
        assert child.parent_id is not None and child.parent_task_id is not None
        parent = self.lock(tx, child.parent_id)
        row = tx.dao.task(child.parent_task_id)
        assert row is not None
        if row.status != IN_PROGRESS:
            return
        if child.status == COMPLETED:
            self.record_success(tx, parent, row, child.output or {})
        else:
            self.record_failure(tx, parent, row, f"sub-workflow {child.id} {child.status}: "
                                f"{child.reason}", retryable=True)

    # --- results ---------------------------------------------------------------------------
    def record_success(self, tx: Tx, execution: ExecutionRow, row: TaskRow,
                       output: dict[str, Any]) -> None:
        self.set_task(tx, row.id, status=COMPLETED, output=output, ended_at=tx.now,
                      lease_until=None, error=None)
        if row.kind == COMPENSATION:
            forward = decider.latest(tx.dao.tasks_of(execution.id)).get(row.ref)
            if forward is not None and forward.status in (COMPLETED, FAILED):
                self.set_task(tx, forward.id, status=COMPENSATED)
        self.decide(tx, execution)

    def _policy(self, execution: ExecutionRow, row: TaskRow) -> RetryPolicy:
        task = self.definitions.pinned(execution).task(row.ref)
        if row.kind == COMPENSATION and task.compensation is not None:
            return task.compensation.retry
        return task.retry

    def record_failure(self, tx: Tx, execution: ExecutionRow, row: TaskRow, error: str,
                       retryable: bool) -> None:
        self.set_task(tx, row.id, status=FAILED, error=error[:4000], retryable=retryable,
                      ended_at=tx.now, lease_until=None)
        policy = self._policy(execution, row)
        if retryable and policy.allows(row.round_attempt) and execution.status in ACTIVE:
            delay = policy.delay(row.round_attempt, self.rng)
            status = HELD if execution.status == PAUSED else SCHEDULED
            self.insert_task(tx, TaskRow(
                id=new_id(), execution_id=execution.id, ref=row.ref, kind=row.kind,
                type=row.type, name=row.name, queue=row.queue, status=status,
                attempt=row.attempt + 1, first_attempt=row.first_attempt, seq=0,
                input=row.input, scheduled_at=tx.now + delay, lease_s=row.lease_s))
            return
        self.decide(tx, execution)

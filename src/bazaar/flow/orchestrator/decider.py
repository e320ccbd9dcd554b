"""The decider: given a definition and the attempts so far, what happens next. Pure code.

It walks the definition's sequences against the latest attempt of each step: the first step
with no attempt is scheduled, SWITCH/FORK_JOIN/JOIN/TERMINATE are completed inline, a step
that failed for good starts compensation (reverse completion order), and when nothing is left
the workflow completes with its wired output. The engine applies the :class:`Decision` in
the same transaction that recorded the change which triggered it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bazaar.flow.orchestrator import wiring
from bazaar.flow.orchestrator.definition import INLINE_TYPES, TaskDef, WorkflowDef, thaw
from bazaar.flow.orchestrator.state import (
    CANCELED,
    COMPENSATED,
    COMPENSATING,
    COMPENSATION,
    COMPLETED,
    FAILED,
    FORWARD,
    HELD,
    IN_FLIGHT,
    IN_PROGRESS,
    RUNNING,
    SCHEDULED,
    SKIPPED,
    ExecutionRow,
    TaskRow,
)

_DONE = frozenset({COMPLETED, SKIPPED})


@dataclass
class NewTask:
    """An attempt to insert. Inline tasks arrive already COMPLETED."""

    ref: str
    kind: str
    type: str
    name: str
    queue: str
    input: dict[str, Any]
    status: str
    lease_s: float
    output: dict[str, Any] | None = None
    wake_after_s: float | None = None
    child: tuple[str, int | None] | None = None


@dataclass
class Decision:
    """What to change. ``status`` None means the execution keeps its status."""

    new_tasks: list[NewTask] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    status: str | None = None
    output: dict[str, Any] | None = None
    reason: str | None = None
    waiting_on: list[str] = field(default_factory=list)


def latest(tasks: list[TaskRow], kind: str = FORWARD) -> dict[str, TaskRow]:
    """The newest attempt of each step of ``kind``."""
    out: dict[str, TaskRow] = {}
    for row in sorted(tasks, key=lambda r: r.seq):
        if row.kind == kind:
            out[row.ref] = row
    return out


def context(execution: ExecutionRow, rows: dict[str, TaskRow]) -> dict[str, Any]:
    """What ``${...}`` expressions resolve against."""
    ctx: dict[str, Any] = {"workflow": {"input": execution.input, "id": execution.id,
                                        "name": execution.name, "version": execution.version}}
    for ref, row in rows.items():
        ctx[ref] = {"input": row.input, "output": row.output}
    return ctx


def failure_reason(row: TaskRow) -> str:
    return (f"task {row.ref} ({row.name}) failed after {row.round_attempt} attempt(s): "
            f"{row.error or 'no error given'}")


class _Walk:
    def __init__(self, defn: WorkflowDef, execution: ExecutionRow, tasks: list[TaskRow]) -> None:
        self.defn, self.execution = defn, execution
        self.rows = latest(tasks)
        self.ctx = context(execution, self.rows)
        self.schedule: list[TaskDef] = []
        self.inline: list[NewTask] = []
        self.pending: list[str] = []
        self.failure: TaskRow | None = None
        self.terminate: tuple[str, dict[str, Any], str] | None = None

    def complete_inline(self, t: TaskDef, output: dict[str, Any]) -> None:
        row = TaskRow(id="", execution_id=self.execution.id, ref=t.ref, kind=FORWARD, type=t.type,
                      name=t.name, queue="", status=COMPLETED, attempt=1, first_attempt=1,
                      seq=1 << 62, input={}, output=output)
        self.rows[t.ref] = row
        self.ctx[t.ref] = {"input": {}, "output": output}
        self.inline.append(NewTask(ref=t.ref, kind=FORWARD, type=t.type, name=t.name, queue="",
                                   input={}, status=COMPLETED, lease_s=t.lease_s, output=output))

    def run_inline(self, t: TaskDef) -> bool:
        if t.type == "SWITCH":
            value = wiring.resolve(t.expression, self.ctx)
            key = str(value).lower() if isinstance(value, bool) else str(value)
            self.complete_inline(t, {"case": key if key in t.cases else "default",
                                     "value": value})
        elif t.type == "FORK_JOIN":
            self.complete_inline(t, {})
        elif t.type == "JOIN":
            waiting = [r for r in t.join_on
                       if r not in self.rows or not self._done(self.rows[r])]
            if waiting:
                self.pending.extend(f"{t.ref} waits on {r}" for r in waiting)
                return False
            self.complete_inline(t, {r: self.rows[r].output for r in t.join_on})
        else:  # TERMINATE
            output = wiring.resolve(thaw(t.options.get("output", {})), self.ctx)
            self.complete_inline(t, output)
            self.terminate = (str(t.options.get("status", COMPLETED)), output,
                              str(t.options.get("reason", "")) or f"terminated by {t.ref}")
            return False
        return True

    def _done(self, row: TaskRow) -> bool:
        return row.status in _DONE or (row.status == FAILED and self._optional(row.ref))

    def _optional(self, ref: str) -> bool:
        try:
            return self.defn.task(ref).optional
        except KeyError:
            return False

    def sequence(self, seq: tuple[TaskDef, ...]) -> bool:
        """Walk one sequence; True when every step in it is done."""
        for t in seq:
            if self.terminate is not None:
                return False
            row = self.rows.get(t.ref)
            if row is None or row.status in (CANCELED, COMPENSATED):
                if t.type not in INLINE_TYPES:
                    self.schedule.append(t)
                    return False
                if not self.run_inline(t):
                    return False
                row = self.rows[t.ref]
            if row.status in IN_FLIGHT:
                self.pending.append(f"{t.ref} is {row.status}")
                return False
            if row.status == FAILED and not t.optional:
                self.failure = self.failure or row
                return False
            if t.type == "SWITCH" and row.output is not None:
                case = str(row.output.get("case", "default"))
                if not self.sequence(t.cases.get(case, t.default)):
                    return False
            elif t.type == "FORK_JOIN":
                finished = [self.sequence(b) for b in t.branches]
                if not all(finished) and self.failure is not None:
                    return False
        return True


def _new_task(t: TaskDef, ctx: dict[str, Any]) -> NewTask:
    resolved = wiring.resolve(thaw(t.input), ctx)
    if t.type == "WAIT":
        return NewTask(ref=t.ref, kind=FORWARD, type=t.type, name=t.name, queue="",
                       input=resolved, status=IN_PROGRESS, lease_s=t.lease_s,
                       wake_after_s=t.duration_s)
    if t.type == "SUB_WORKFLOW":
        return NewTask(ref=t.ref, kind=FORWARD, type=t.type, name=t.name, queue="",
                       input=resolved, status=IN_PROGRESS, lease_s=t.lease_s, child=t.workflow)
    if t.type == "HTTP":
        resolved = {**resolved, "request": wiring.resolve(thaw(t.options["request"]), ctx)}
    if t.type == "EVENT":
        resolved = {**resolved, **wiring.resolve(thaw(t.options), ctx)}
        if t.options.get("action") == "wait":
            return NewTask(ref=t.ref, kind=FORWARD, type=t.type, name=t.name, queue="",
                           input=resolved, status=IN_PROGRESS, lease_s=t.lease_s)
    return NewTask(ref=t.ref, kind=FORWARD, type=t.type, name=t.name, queue=t.queue,
                   input=resolved, status=SCHEDULED, lease_s=t.lease_s)


def decide(defn: WorkflowDef, execution: ExecutionRow, tasks: list[TaskRow]) -> Decision:
    """The next step of ``execution``; see the module docstring."""
    if execution.status == COMPENSATING:
        return compensate(defn, execution, tasks, execution.reason or "failed")
    if execution.status != RUNNING:
        return Decision()
    walk = _Walk(defn, execution, tasks)
    finished = walk.sequence(defn.tasks)
    decision = Decision(new_tasks=list(walk.inline), waiting_on=walk.pending)
    if walk.terminate is not None:
        status, output, reason = walk.terminate
        if status == COMPLETED:
            decision.cancel = [r.id for r in tasks if r.status in IN_FLIGHT]
            decision.status, decision.output = COMPLETED, output
            return decision
        return _merge(decision, compensate(defn, execution, tasks, reason, entering=True))
    if walk.failure is not None:
        return _merge(decision, compensate(defn, execution, tasks,
                                           failure_reason(walk.failure), entering=True))
    decision.new_tasks += [_new_task(t, walk.ctx) for t in walk.schedule]
    if finished and not walk.schedule and not walk.pending:
        decision.status = COMPLETED
        decision.output = wiring.resolve(thaw(defn.output), walk.ctx)
    return decision


def _merge(first: Decision, second: Decision) -> Decision:
    second.new_tasks = first.new_tasks + second.new_tasks
    return second


def compensate(defn: WorkflowDef, execution: ExecutionRow, tasks: list[TaskRow], reason: str,
               entering: bool = False) -> Decision:
    """Undo completed steps one at a time, newest completion first; then fail."""
    decision = Decision(status=COMPENSATING if entering else None, reason=reason)
    forward = latest(tasks)
    decision.cancel = [r.id for r in forward.values()
                       if r.status in (SCHEDULED, HELD) or (r.status == IN_PROGRESS
                                                            and r.type in ("WAIT", "EVENT")
                                                            and not r.queue)]
    busy = [r for r in forward.values() if r.status == IN_PROGRESS and r.id not in decision.cancel]
    if busy:
        decision.waiting_on = [f"{r.ref} to finish before compensating" for r in busy]
        return decision
    done = [r for r in forward.values() if _compensable(defn, r)]
    done.sort(key=lambda r: (r.ended_at or 0.0, r.seq), reverse=True)
    undo = latest(tasks, COMPENSATION)
    for row in done:
        attempt = undo.get(row.ref)
        if attempt is not None and attempt.status in IN_FLIGHT:
            decision.waiting_on = [f"compensation of {row.ref} is {attempt.status}"]
            return decision
        if attempt is not None and attempt.status == FAILED and attempt.seq > row.seq:
            decision.status = FAILED
            decision.reason = (f"{reason}; compensation of {row.ref} failed: "
                               f"{attempt.error or 'no error given'}")
            return decision
        comp = defn.task(row.ref).compensation
        assert comp is not None
        ctx = context(execution, forward)
        decision.new_tasks.append(NewTask(
            ref=row.ref, kind=COMPENSATION, type="SIMPLE", name=comp.name, queue=comp.name,
            input=wiring.resolve(thaw(comp.input), ctx), status=SCHEDULED,
            lease_s=comp.lease_s))
        decision.waiting_on = [f"compensation of {row.ref}"]
        return decision
    decision.status = FAILED
    return decision


def _compensable(defn: WorkflowDef, row: TaskRow) -> bool:
    """Completed steps with a compensation; failed ones too if it runs ``on_failure``."""
    try:
        comp = defn.task(row.ref).compensation
    except KeyError:
        return False
    if comp is None:
        return False
    return row.status == COMPLETED or (row.status == FAILED and comp.on_failure)

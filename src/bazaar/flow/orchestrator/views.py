"""JSON shapes of executions and tasks for the API and CLI, and "why is it stuck"."""

from __future__ import annotations

import time
from typing import Any

from bazaar.flow.orchestrator.state import (
    COMPENSATING,
    FINISHED,
    HELD,
    IN_PROGRESS,
    PAUSED,
    SCHEDULED,
    ExecutionRow,
    TaskRow,
)


def task_json(row: TaskRow) -> dict[str, Any]:
    return {
        "id": row.id, "execution_id": row.execution_id, "ref": row.ref, "kind": row.kind,
        "type": row.type, "name": row.name, "queue": row.queue, "status": row.status,
        "attempt": row.attempt, "round_attempt": row.round_attempt, "input": row.input,
        "output": row.output, "error": row.error, "retryable": row.retryable,
        "scheduled_at": row.scheduled_at, "started_at": row.started_at,
        "ended_at": row.ended_at, "lease_s": row.lease_s, "lease_until": row.lease_until,
        "worker_id": row.worker_id, "deliveries": row.deliveries, "wake_at": row.wake_at,
        "child_id": row.child_id, "idempotency_key": row.idempotency_key,
    }


def execution_json(row: ExecutionRow, *, definition: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id, "name": row.name, "version": row.version, "status": row.status,
        "input": row.input, "output": row.output, "reason": row.reason,
        "idempotency_key": row.idempotency_key, "parent_id": row.parent_id,
        "failure_execution_id": row.failure_execution_id, "created_at": row.created_at,
        "updated_at": row.updated_at, "ended_at": row.ended_at, "notes": row.notes,
    }
    if definition:
        out["definition"] = row.definition
    return out


def _ago(now: float, then: float) -> str:
    return f"{max(now - then, 0.0):.1f}s ago"


def explain(execution: ExecutionRow, rows: list[TaskRow],
            last_poll: dict[str, tuple[float, str]],
            concurrency_limits: dict[str, int] | None = None,
            now: float | None = None) -> list[str]:
    """Plain sentences saying what an execution is waiting for (or how it ended)."""
    now = time.time() if now is None else now
    if execution.status in FINISHED:
        return [f"{execution.status}" + (f": {execution.reason}" if execution.reason else "")]
    lines: list[str] = []
    if execution.status == PAUSED:
        lines.append("paused by an operator: `bazaar flow resume` to continue")
    if execution.status == COMPENSATING:
        lines.append(f"compensating after: {execution.reason}")
    busy: dict[str, int] = {}
    for row in rows:
        if row.status == IN_PROGRESS and row.queue:
            busy[row.queue] = busy.get(row.queue, 0) + 1
    for row in rows:
        what = f"{row.ref}{' (compensation)' if row.kind != 'forward' else ''}"
        if row.status == HELD:
            lines.append(f"{what}: held while paused")
        elif row.status == SCHEDULED:
            if row.scheduled_at > now:
                lines.append(f"{what}: attempt {row.attempt} waits for its retry backoff, due "
                             f"in {row.scheduled_at - now:.1f}s (last error: {row.error})")
                continue
            polled = last_poll.get(row.queue)
            limit = (concurrency_limits or {}).get(row.queue)
            if limit is not None and busy.get(row.queue, 0) >= limit:
                lines.append(f"{what}: queue {row.queue!r} is at its concurrency limit "
                             f"({limit} in progress)")
            elif polled is None:
                lines.append(f"{what}: queued on {row.queue!r} {_ago(now, row.scheduled_at)};"
                             " no worker has polled that queue since the orchestrator started")
            else:
                lines.append(f"{what}: queued on {row.queue!r} {_ago(now, row.scheduled_at)};"
                             f" last poll by {polled[1]} {_ago(now, polled[0])}")
        elif row.status == IN_PROGRESS:
            if row.type == "WAIT" and row.wake_at is not None:
                lines.append(f"{what}: timer fires in {max(row.wake_at - now, 0):.1f}s")
            elif row.type in ("WAIT", "EVENT"):
                lines.append(f"{what}: waiting for a signal or event "
                             f"(`POST /api/executions/{execution.id}/signal/{row.ref}`)")
            elif row.type == "SUB_WORKFLOW":
                lines.append(f"{what}: waiting for sub-workflow {row.child_id}")
            else:
                left = (row.lease_until or now) - now
                lines.append(f"{what}: leased to {row.worker_id} (delivery {row.deliveries}); "
                             + (f"lease ends in {left:.1f}s" if left >= 0 else
                                f"lease lapsed {-left:.1f}s ago, the sweeper will requeue it"))
    return lines or ["nothing in flight: the decider has not run since the last change"]

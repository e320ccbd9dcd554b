"""The records the store keeps, as plain dataclasses the decider reads (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Execution statuses.
RUNNING, PAUSED, COMPENSATING = "RUNNING", "PAUSED", "COMPENSATING"
COMPLETED, FAILED, TERMINATED = "COMPLETED", "FAILED", "TERMINATED"
#: Ran past its definition's ``timeout_s`` (Conductor's workflow timeoutSeconds).
TIMED_OUT = "TIMED_OUT"
ACTIVE = frozenset({RUNNING, PAUSED, COMPENSATING})
FINISHED = frozenset({COMPLETED, FAILED, TERMINATED, TIMED_OUT})

# Task statuses (COMPLETED and FAILED shared with executions).
SCHEDULED, HELD, IN_PROGRESS = "SCHEDULED", "HELD", "IN_PROGRESS"
CANCELED, COMPENSATED, SKIPPED = "CANCELED", "COMPENSATED", "SKIPPED"
IN_FLIGHT = frozenset({SCHEDULED, HELD, IN_PROGRESS})

FORWARD, COMPENSATION = "forward", "compensation"


@dataclass
class TaskRow:
    """One attempt of one step (or of its compensation). Attempts of a step share ``ref``."""

    id: str
    execution_id: str
    ref: str
    kind: str
    type: str
    name: str
    queue: str
    status: str
    attempt: int
    first_attempt: int
    seq: int
    input: dict[str, Any]
    output: dict[str, Any] | None = None
    error: str | None = None
    retryable: bool = True
    scheduled_at: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    lease_s: float = 30.0
    lease_until: float | None = None
    worker_id: str | None = None
    deliveries: int = 0
    wake_at: float | None = None
    child_id: str | None = None

    @property
    def idempotency_key(self) -> str:
        """Same for every delivery of this attempt; different for the next attempt."""
        undo = "/undo" if self.kind == COMPENSATION else ""
        return f"{self.execution_id}/{self.ref}{undo}/{self.attempt}"

    @property
    def round_attempt(self) -> int:
        """Attempt number within the current retry budget (a manual retry starts a new one)."""
        return self.attempt - self.first_attempt + 1


@dataclass
class ExecutionRow:
    """One run of a workflow, pinned to the definition it started with."""

    id: str
    name: str
    version: int
    status: str
    input: dict[str, Any]
    definition: dict[str, Any]
    output: dict[str, Any] | None = None
    reason: str | None = None
    idempotency_key: str | None = None
    parent_id: str | None = None
    parent_task_id: str | None = None
    failure_execution_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    ended_at: float | None = None
    notes: list[str] = field(default_factory=list)
    correlation_id: str | None = None
    deadline_at: float | None = None

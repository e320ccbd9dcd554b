"""Workflow definitions: parsed from JSON or YAML, validated as a whole, immutable once built.

A definition is a sequence of tasks; SWITCH and FORK_JOIN nest sequences. Every task has a
``ref`` unique in the workflow; inputs are templates wired with ``${ref.output.path}``.
Building one from JSON/YAML and validating it is :mod:`.validation`'s job.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from bazaar.flow.orchestrator.retry import RetryPolicy

TASK_TYPES = ("SIMPLE", "HTTP", "SWITCH", "FORK_JOIN", "JOIN", "SUB_WORKFLOW", "WAIT", "EVENT",
              "TERMINATE")
#: Types the decider completes itself, inside its transaction.
INLINE_TYPES = frozenset({"SWITCH", "FORK_JOIN", "JOIN", "TERMINATE"})
#: Queues served by the orchestrator's own system workers.
HTTP_QUEUE = "_http"
EVENT_QUEUE = "_event"
DEFAULT_RETRY = RetryPolicy()
DEFAULT_COMPENSATION_RETRY = RetryPolicy(max_attempts=10, backoff="jittered", delay_s=0.5)


def freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, JSON-serialisable copy of a frozen template."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Compensation:
    """The task that undoes a completed step; wired like any input (may use its own ref)."""

    name: str
    input: Mapping[str, Any]
    retry: RetryPolicy = DEFAULT_COMPENSATION_RETRY
    lease_s: float = 30.0
    #: Also undo the step when it *failed*: its outcome is uncertain (a timeout that may
    #: have charged the card), so the compensation (idempotent) must run anyway.
    on_failure: bool = False


@dataclass(frozen=True)
class TaskDef:
    """One step. Type-specific fields are empty for the types that do not use them."""

    ref: str
    type: str
    name: str
    input: Mapping[str, Any]
    retry: RetryPolicy = DEFAULT_RETRY
    lease_s: float = 30.0
    optional: bool = False
    compensation: Compensation | None = None
    expression: str = ""
    cases: Mapping[str, tuple[TaskDef, ...]] = field(default_factory=dict)
    default: tuple[TaskDef, ...] = ()
    branches: tuple[tuple[TaskDef, ...], ...] = ()
    join_on: tuple[str, ...] = ()
    workflow: tuple[str, int | None] = ("", None)
    duration_s: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def queue(self) -> str:
        """The queue workers poll for this task ("" for tasks the orchestrator runs inline)."""
        if self.type == "SIMPLE":
            return self.name
        if self.type == "HTTP":
            return HTTP_QUEUE
        if self.type == "EVENT" and self.options.get("action", "publish") == "publish":
            return EVENT_QUEUE
        return ""

    def children(self) -> Iterator[tuple[TaskDef, ...]]:
        """The nested sequences (switch cases, default, fork branches)."""
        yield from self.cases.values()
        if self.default:
            yield self.default
        yield from self.branches


@dataclass(frozen=True)
class WorkflowDef:
    """A validated, versioned workflow definition."""

    name: str
    version: int
    tasks: tuple[TaskDef, ...]
    output: Mapping[str, Any]
    failure_workflow: str | None
    description: str
    raw: Mapping[str, Any]
    #: The whole execution's time limit (from start), or None: no limit.
    timeout_s: float | None = None

    def all_tasks(self) -> list[TaskDef]:
        """Every task, depth first in document order."""
        out: list[TaskDef] = []

        def walk(seq: tuple[TaskDef, ...]) -> None:
            for t in seq:
                out.append(t)
                for child in t.children():
                    walk(child)

        walk(self.tasks)
        return out

    def task(self, ref: str) -> TaskDef:
        for t in self.all_tasks():
            if t.ref == ref:
                return t
        raise KeyError(ref)

    def to_dict(self) -> dict[str, Any]:
        """The definition as given (plain JSON), with name and version filled in."""
        out: dict[str, Any] = thaw(self.raw)
        out["name"], out["version"] = self.name, self.version
        return out

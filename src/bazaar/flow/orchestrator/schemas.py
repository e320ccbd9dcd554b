"""The orchestrator's HTTP inputs as msgspec types: they decode every query string and body
(a wrong one is a 422 naming the field) and they are what ``/openapi.json`` documents, so
the documented bounds are the enforced bounds."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

#: Versions, counts and the like are stored as 64-bit integers.
MAX_INT = 2**63 - 1
#: The longest a poll may ask to wait (the service's own ``max_poll_wait_s``, 30 s by
#: default, may clamp it further).
MAX_WAIT_S = 30.0
#: The longest lease a heartbeat may ask for: a day.
MAX_LEASE_S = 86400.0

Version = Annotated[int, msgspec.Meta(ge=1, le=MAX_INT, description="A definition version.")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
#: A workflow's name, as definitions allow it (validation.py).
Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]{0,99}$")]
ExecutionId = Text
Worker = Annotated[str, msgspec.Meta(min_length=1, max_length=255,
                                     description="The worker's id (its leases are its own).")]
#: An error or a reason; a traceback fits. (At most 6 bytes a character in JSON, so one
#: too long still fits the body limit and gets its 422, not a 413.)
Message = Annotated[str, msgspec.Meta(max_length=100_000)]
#: An execution status (state.ACTIVE and state.FINISHED), in either case.
Status = Literal["RUNNING", "PAUSED", "COMPENSATING", "COMPLETED", "FAILED", "TERMINATED",
                 "TIMED_OUT", "running", "paused", "compensating", "completed", "failed",
                 "terminated", "timed_out"]


class DefinitionQuery(msgspec.Struct, forbid_unknown_fields=True):
    version: Version | None = None


class ExecutionsQuery(msgspec.Struct, forbid_unknown_fields=True):
    status: Status | None = None
    name: Text | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000, description="At most this many, "
                                                                  "newest first.")] = 50


class ExecutionQuery(msgspec.Struct, forbid_unknown_fields=True):
    #: Present (any value): include the definition the execution runs.
    definition: Annotated[str, msgspec.Meta(max_length=16)] | None = None


class PollQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Bazaar's poll (``worker``: a list of tasks) or Conductor's single poll (no
    ``worker``; ``workerid``: one Task, or 204 when there is no work)."""

    worker: Worker | None = None
    workerid: Worker | None = None
    domain: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    count: Annotated[int, msgspec.Meta(ge=1, le=1000, description="Lease up to this many "
                                                                  "tasks.")] = 1
    wait_s: Annotated[float, msgspec.Meta(ge=0, le=MAX_WAIT_S, description=(
        "Long-poll: wait up to this many seconds for a task."))] = 0.0


class StartIn(msgspec.Struct, forbid_unknown_fields=True):
    input: dict[str, Any] | None = None
    version: Version | None = None
    idempotency_key: Text | None = None
    on_conflict: Literal["return_existing", "fail"] = "return_existing"


class ReasonIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Message | None = None


class SignalIn(msgspec.Struct, forbid_unknown_fields=True):
    output: dict[str, Any] | None = None


class HeartbeatIn(msgspec.Struct, forbid_unknown_fields=True):
    worker: Worker
    extend_s: Annotated[float, msgspec.Meta(gt=0, le=MAX_LEASE_S)] | None = None


class ResultIn(msgspec.Struct, forbid_unknown_fields=True):
    worker: Worker | None = None
    status: Literal["COMPLETED", "FAILED"] = "COMPLETED"
    output: dict[str, Any] | None = None
    error: Message | None = None
    retryable: bool = True


class TaskResult(ResultIn, forbid_unknown_fields=True, kw_only=True):
    task_id: Text


class ResultsIn(msgspec.Struct, forbid_unknown_fields=True):
    results: Annotated[list[TaskResult], msgspec.Meta(max_length=1000)]

"""One exception tree for ``bazaar.flow``: every error a caller can act on is a ``FlowError``."""

from __future__ import annotations


class FlowError(Exception):
    """Base of every error raised by ``bazaar.flow``."""


class DefinitionError(FlowError):
    """A workflow definition is malformed; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid workflow definition: " + "; ".join(self.problems))


class NotFound(FlowError):
    """No such workflow definition, execution or task."""


class StartConflict(FlowError):
    """An execution with this idempotency key exists and the conflict policy is ``fail``."""

    def __init__(self, key: str, existing_id: str) -> None:
        self.key = key
        self.existing_id = existing_id
        super().__init__(f"idempotency key {key!r} already started execution {existing_id}")


class InvalidState(FlowError):
    """The operation does not apply to the execution or task in its current state."""


class LeaseLost(FlowError):
    """The task is no longer leased to this worker (the lease lapsed or the task finished)."""


class StoreError(FlowError):
    """The durable store failed (database unreachable, schema problem)."""


class WorkflowUnavailable(FlowError):
    """The orchestrator could not be reached (the HTTP client's view of a down server)."""


class NonRetryableError(FlowError):
    """Raised by a task handler: fail this task now, do not retry it."""


class EventError(FlowError):
    """The event log (Kafka protocol) could not be reached or refused a request."""

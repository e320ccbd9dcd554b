"""``bazaar.flow``: how services collaborate on a saga, two ways.

- :mod:`bazaar.flow.orchestrator`: a durable, Conductor-style orchestrator (definitions,
  decider, SQL store, HTTP API, worker SDK).
- :mod:`bazaar.flow.choreography`: the same saga as events on a Kafka-protocol log, with a
  transactional outbox and idempotent consumers.

Everything raised here is a :class:`FlowError`.
"""

from bazaar.flow.errors import (
    DefinitionError,
    EventError,
    FlowError,
    InvalidState,
    LeaseLost,
    NonRetryableError,
    NotFound,
    StartConflict,
    StoreError,
    WorkflowUnavailable,
)

__all__ = [
    "DefinitionError",
    "EventError",
    "FlowError",
    "InvalidState",
    "LeaseLost",
    "NonRetryableError",
    "NotFound",
    "StartConflict",
    "StoreError",
    "WorkflowUnavailable",
]

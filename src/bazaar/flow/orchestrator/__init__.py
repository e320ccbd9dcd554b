"""A durable, Conductor-style workflow orchestrator.

Definitions (JSON/YAML, ``${ref.output.path}`` wiring, versioned) are registered with an
:class:`Orchestrator` over a SQL :class:`Store`; executions pin their definition. Workers
long-poll the HTTP API (:func:`create_app`) or use the :class:`Worker` SDK.
"""

from bazaar.flow.orchestrator.client import FlowClient, Task
from bazaar.flow.orchestrator.definition import Compensation, TaskDef, WorkflowDef
from bazaar.flow.orchestrator.engine import (
    Orchestrator,
    OrchestratorConfig,
    StartResult,
    SweepReport,
)
from bazaar.flow.orchestrator.events import KafkaEvents
from bazaar.flow.orchestrator.local import LocalWorker
from bazaar.flow.orchestrator.retry import RetryPolicy
from bazaar.flow.orchestrator.routes import create_app
from bazaar.flow.orchestrator.server import ServerConfig, build, serve
from bazaar.flow.orchestrator.service import ApiConfig, Service
from bazaar.flow.orchestrator.state import ExecutionRow, TaskRow
from bazaar.flow.orchestrator.store import Store
from bazaar.flow.orchestrator.system import EventSink
from bazaar.flow.orchestrator.validation import load_text, parse_definition
from bazaar.flow.orchestrator.views import explain
from bazaar.flow.orchestrator.worker import Worker

__all__ = [
    "ApiConfig",
    "Compensation",
    "EventSink",
    "ExecutionRow",
    "FlowClient",
    "KafkaEvents",
    "LocalWorker",
    "Orchestrator",
    "OrchestratorConfig",
    "RetryPolicy",
    "ServerConfig",
    "Service",
    "StartResult",
    "Store",
    "SweepReport",
    "Task",
    "TaskDef",
    "TaskRow",
    "Worker",
    "WorkflowDef",
    "build",
    "create_app",
    "explain",
    "load_text",
    "parse_definition",
    "serve",
]

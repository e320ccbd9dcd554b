"""Bazaar Functions: a serverless platform built the way AWS Lambda works behind the scenes.

A frontend (HTTP API) in front of a worker manager that keeps warm sandboxes per function
version, asks Placement for a worker host when it needs a new one, and hands Event invocations
to a durable queue drained by pollers, with retries and a dead-letter store. Worker hosts are
separate processes; each sandbox is a process running the function runtime, bare or under
bubblewrap. The frontend answers Bearer tokens of the platform's own keyring and SigV4
requests signed with its access keys; it speaks AWS Lambda's own Invoke API for boto3. Event
source mappings feed a topic of a Kafka-compatible log to a function.
"""

from bazaar.functions._access import SCOPE, SIGV4_SERVICE, BearerToken, PlatformAccess
from bazaar.functions._access import guard as access_guard
from bazaar.functions._async import AsyncInvoker, AsyncPolicy
from bazaar.functions._client import FunctionsClient, InvokeResponse
from bazaar.functions._entry import run_serve, run_worker
from bazaar.functions._errors import (
    Conflict,
    FunctionsError,
    HostLost,
    InvalidPackage,
    InvalidRequest,
    NoCapacity,
    PayloadTooLarge,
    QueueError,
    ResourceNotFound,
    TooManyRequests,
    Unauthorized,
)
from bazaar.functions._event_sources import EventSourceMapping, EventSourcePoller
from bazaar.functions._frontend import build_app
from bazaar.functions._host import HostConfig, WorkerHost, run_host
from bazaar.functions._manager import WorkerManager
from bazaar.functions._model import (
    LATEST,
    DeadLetter,
    ErrorInfo,
    FunctionSpec,
    InvocationResult,
    Isolation,
    VersionRef,
)
from bazaar.functions._packages import (
    HANDLER_MODULES,
    PackageStore,
    check_package,
    digest_of,
    find_handler,
    zip_directory,
)
from bazaar.functions._placement import Placement
from bazaar.functions._platform import Platform, PlatformConfig, read_address_file
from bazaar.functions._queue import DurableQueue
from bazaar.functions._sandbox import (
    BWRAP,
    Sandbox,
    SandboxFailed,
    SandboxLimits,
    SandboxSpec,
    bwrap_args,
    hidden_mounts,
    runtime_paths,
)
from bazaar.functions._server import (
    ServerProcess,
    WorkerSettings,
    serve,
    spawn_worker_host,
    start_server_process,
)
from bazaar.functions._vm import VmPool, VmUnavailable, setup_vm

__all__ = [
    "BWRAP",
    "HANDLER_MODULES",
    "LATEST",
    "SCOPE",
    "SIGV4_SERVICE",
    "AsyncInvoker",
    "AsyncPolicy",
    "BearerToken",
    "Conflict",
    "DeadLetter",
    "DurableQueue",
    "ErrorInfo",
    "EventSourceMapping",
    "EventSourcePoller",
    "FunctionSpec",
    "FunctionsClient",
    "FunctionsError",
    "HostConfig",
    "HostLost",
    "InvalidPackage",
    "InvalidRequest",
    "InvocationResult",
    "InvokeResponse",
    "Isolation",
    "NoCapacity",
    "PackageStore",
    "PayloadTooLarge",
    "Placement",
    "Platform",
    "PlatformAccess",
    "PlatformConfig",
    "QueueError",
    "ResourceNotFound",
    "Sandbox",
    "SandboxFailed",
    "SandboxLimits",
    "SandboxSpec",
    "ServerProcess",
    "TooManyRequests",
    "Unauthorized",
    "VersionRef",
    "VmPool",
    "VmUnavailable",
    "WorkerHost",
    "WorkerManager",
    "WorkerSettings",
    "access_guard",
    "build_app",
    "bwrap_args",
    "check_package",
    "digest_of",
    "find_handler",
    "hidden_mounts",
    "read_address_file",
    "run_host",
    "run_serve",
    "run_worker",
    "runtime_paths",
    "serve",
    "setup_vm",
    "spawn_worker_host",
    "start_server_process",
    "zip_directory",
]

"""The platform's values: function settings, versions, invocation results. Pure data."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bazaar.functions._errors import InvalidRequest

Isolation = Literal["process", "namespace", "vm"]
ISOLATIONS: tuple[Isolation, ...] = ("process", "namespace", "vm")
#: The bootstrap a sandbox runs: Bazaar's own (fast, pipes) or AWS's unmodified ``awslambdaric``
#: talking to the Lambda Runtime API the sandbox serves.
Runtime = Literal["bazaar", "awslambdaric"]
RUNTIMES: tuple[Runtime, ...] = ("bazaar", "awslambdaric")
LATEST = "$LATEST"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
#: Lambda's rules for environment variables: a key is a letter then letters, digits or '_';
#: the whole set, measured as compact JSON, is at most 4 KB; the runtime's own are reserved.
_ENV_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]+$")
ENV_LIMIT_BYTES = 4096
RESERVED_ENV = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TMPDIR",
    "BAZAAR_FUNCTION_NAME", "BAZAAR_FUNCTION_VERSION", "BAZAAR_FUNCTION_MEMORY_MB"})


def check_environment(env: object) -> dict[str, str]:
    """``env`` as a function's environment variables (sorted by key), or InvalidRequest with
    Lambda's reason: not string to string, a bad key, a reserved key, over 4 KB."""
    if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise InvalidRequest("environment variables must map strings to strings")
    reserved = sorted(k for k in env if k in RESERVED_ENV)
    if reserved:
        raise InvalidRequest(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided contains reserved keys that are "
            f"currently not supported for modification. Reserved keys used in this request: "
            f"{', '.join(reserved)}")
    bad = sorted(k for k in env if not _ENV_KEY.match(k))
    if bad:
        raise InvalidRequest(f"invalid environment variable name(s) {', '.join(bad)}: a "
                             "letter, then letters, digits or '_'")
    measured = json.dumps(env, separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > ENV_LIMIT_BYTES:
        raise InvalidRequest(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided exceeded the 4KB limit. String "
            f"measured: {len(measured.encode())} bytes")
    if any("\0" in k or "\0" in v for k, v in env.items()):
        raise InvalidRequest("environment variables cannot contain NUL characters")
    return dict(sorted(env.items()))


def check_name(name: str, what: str = "function name") -> str:
    """Return ``name`` if it is a valid function or alias name, else raise InvalidRequest."""
    if not _NAME.match(name):
        raise InvalidRequest(f"invalid {what} {name!r}: letters, digits, '-', '_', max 64")
    return name


@dataclass(frozen=True)
class FunctionSpec:
    """How one function runs: its handler and its limits. Validated on construction."""

    name: str
    handler: str = "app.handler"
    memory_mb: int = 128
    timeout_s: float = 3.0
    init_timeout_s: float = 10.0
    isolation: Isolation = "process"
    allow_network: bool = False
    concurrency: int | None = None  # reserved concurrency; None = only the host capacity
    runtime: Runtime = "bazaar"
    #: Environment variables the handler sees (``Environment.Variables`` in Lambda's API).
    environment: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name)
        object.__setattr__(self, "environment", check_environment(self.environment))
        if not _HANDLER.match(self.handler):
            raise InvalidRequest(f"invalid handler {self.handler!r}: want 'module.function'")
        if not 32 <= self.memory_mb <= 10240:
            raise InvalidRequest(f"memory_mb must be in 32..10240, got {self.memory_mb}")
        if not 0 < self.timeout_s <= 900:
            raise InvalidRequest(f"timeout_s must be in (0, 900], got {self.timeout_s}")
        if not 0 < self.init_timeout_s <= 120:
            raise InvalidRequest(f"init_timeout_s must be in (0, 120], got {self.init_timeout_s}")
        if self.isolation not in ISOLATIONS:
            raise InvalidRequest(f"isolation must be one of {ISOLATIONS}, got {self.isolation!r}")
        if self.runtime not in RUNTIMES:
            raise InvalidRequest(f"runtime must be one of {RUNTIMES}, got {self.runtime!r}")
        if self.concurrency is not None and not 0 <= self.concurrency <= 10000:
            raise InvalidRequest(f"concurrency must be in 0..10000, got {self.concurrency}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FunctionSpec:
        """Build from JSON, rejecting unknown keys and wrong types with InvalidRequest."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise InvalidRequest(f"unknown setting(s): {', '.join(sorted(unknown))}")
        types: dict[str, tuple[type, ...]] = {
            "name": (str,), "handler": (str,), "memory_mb": (int,), "timeout_s": (int, float),
            "init_timeout_s": (int, float), "isolation": (str,), "allow_network": (bool,),
            "concurrency": (int, type(None)), "runtime": (str,), "environment": (dict,),
        }
        for key, value in data.items():
            if not isinstance(value, types[key]) or (
                    isinstance(value, bool) and bool not in types[key]):
                raise InvalidRequest(f"setting {key!r} has the wrong type: {value!r}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VersionRef:
    """One runnable version: the immutable package (by content hash) and its settings."""

    spec: FunctionSpec
    version: str
    digest: str

    @property
    def key(self) -> tuple[str, str, str]:
        """Warm pools are per (function, version, package): a new $LATEST is a new pool."""
        return (self.spec.name, self.version, self.digest)


@dataclass(frozen=True)
class ErrorInfo:
    """A failed invocation: Lambda's errorType / errorMessage / stackTrace."""

    type: str
    message: str
    trace: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"errorType": self.type, "errorMessage": self.message,
                "stackTrace": list(self.trace)}


@dataclass(frozen=True)
class InvocationResult:
    """What one invocation did. ``payload`` is the handler's JSON result when ``error`` is None.

    ``platform_error`` marks failures that are not the function's fault (host lost): async
    events are retried for those without spending a retry.
    """

    request_id: str
    function: str
    version: str
    payload: bytes | None
    error: ErrorInfo | None
    duration_ms: float
    init_duration_ms: float | None = None
    max_memory_mb: float = 0.0
    logs: str = ""
    logs_truncated: bool = False
    platform_error: bool = False
    host: str = ""
    timestamp: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def cold(self) -> bool:
        return self.init_duration_ms is not None

    def report(self) -> dict[str, Any]:
        """The REPORT line, as a dict (no payload)."""
        return {
            "requestId": self.request_id, "function": self.function, "version": self.version,
            "timestamp": self.timestamp, "durationMs": round(self.duration_ms, 3),
            "initDurationMs": None if self.init_duration_ms is None
            else round(self.init_duration_ms, 3),
            "maxMemoryMB": round(self.max_memory_mb, 1), "host": self.host,
            "error": None if self.error is None else self.error.to_dict(),
            "logs": self.logs, "logsTruncated": self.logs_truncated,
        }


@dataclass(frozen=True)
class DeadLetter:
    """An async event that exhausted its retries or its maximum age."""

    id: int
    function: str
    qualifier: str
    payload: bytes
    enqueued_at: float
    attempts: int
    reason: str
    error: dict[str, Any] | None
    failed_at: float


@dataclass(frozen=True)
class HostInfo:
    """A worker host as Placement sees it."""

    host_id: str
    memory_mb: int
    slots: int
    used_memory_mb: int = 0
    used_slots: int = 0
    labels: dict[str, str] = field(default_factory=dict)

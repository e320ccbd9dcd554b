"""Netflix Conductor's JSON shapes, translated to and from Flow's.

Conductor's ``WorkflowDef`` (with the ``TaskDef`` of each SIMPLE task, registered through
``/api/metadata/taskdefs``) becomes a Flow definition (:mod:`.validation` then checks it as
any other); Flow's executions and task attempts are answered as Conductor's ``Workflow`` and
``Task``. What does not map is refused at registration with a sentence saying why, never
dropped silently. The table of every field is in docs/flow.md ("Using Conductor's SDK").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from bazaar.flow.errors import DefinitionError
from bazaar.flow.orchestrator.state import (
    CANCELED,
    COMPENSATED,
    COMPENSATING,
    COMPLETED,
    FAILED,
    HELD,
    IN_PROGRESS,
    PAUSED,
    RUNNING,
    SCHEDULED,
    SKIPPED,
    TERMINATED,
    TIMED_OUT,
    ExecutionRow,
    TaskRow,
)

#: Conductor's task types Flow runs (DECISION is SWITCH's older name).
TYPES = ("SIMPLE", "HTTP", "SWITCH", "DECISION", "FORK_JOIN", "JOIN", "SUB_WORKFLOW", "WAIT",
         "EVENT", "TERMINATE")
_RETRY_LOGIC = {"FIXED": "fixed", "EXPONENTIAL_BACKOFF": "exponential"}
_TIMEOUT_POLICIES = ("RETRY", "TIME_OUT_WF", "ALERT_ONLY")
#: Conductor's TaskDef defaults (its docs): 3 retries, 60 s apart, a 3600 s response timeout.
_DEFAULT_TASK_DEF: dict[str, Any] = {"retryCount": 3, "retryLogic": "FIXED",
                                     "retryDelaySeconds": 60, "responseTimeoutSeconds": 3600}
#: WorkflowDef fields that carry no behaviour Flow lacks (bookkeeping, or defaults the SDK
#: always sends).
_WORKFLOW_INERT = {"name", "version", "description", "tasks", "inputParameters",
                   "outputParameters", "failureWorkflow", "schemaVersion", "ownerEmail",
                   "createTime", "updateTime", "createdBy", "updatedBy", "ownerApp",
                   "restartable", "workflowStatusListenerEnabled", "timeoutPolicy",
                   "timeoutSeconds", "variables", "inputTemplate", "enforceSchema",
                   "inputSchema", "outputSchema", "tags", "metadata", "accessPolicy"}
_TASK_INERT = {"name", "taskReferenceName", "description", "inputParameters", "type",
               "optional", "taskDefinition", "asyncComplete", "startDelay", "permissive",
               "evaluatorType", "expression", "caseValueParam", "decisionCases",
               "defaultCase", "forkTasks", "joinOn", "subWorkflowParam", "sink",
               "onStateChange", "cacheConfig", "retryCount", "rateLimited"}
_DURATION = re.compile(r"^\s*(?:(\d+)\s*(?:d|days?)\s*)?(?:(\d+)\s*(?:h|hours?)\s*)?"
                       r"(?:(\d+)\s*(?:m|mins?|minutes?)\s*)?(?:(\d+)\s*(?:s|secs?|seconds?)\s*)?$")


def _empty(value: Any) -> bool:
    return value in (None, "", 0, False, [], {})


def _expr(value: Any) -> Any:
    """Conductor's ``${workflow.workflowId}`` is Flow's ``${workflow.id}``; the rest of the
    expression language (``${workflow.input.x}``, ``${ref.output.a.b}``) is the same."""
    if isinstance(value, str):
        return value.replace("${workflow.workflowId}", "${workflow.id}")
    if isinstance(value, Mapping):
        return {k: _expr(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expr(v) for v in value]
    return value


def parse_duration(text: Any) -> float | None:
    """Conductor's WAIT ``duration`` ("30s", "1h 5m", "2 days"), in seconds."""
    if not isinstance(text, str) or not text.strip():
        return None
    match = _DURATION.match(text)
    if match is None or not any(match.groups()):
        return None
    d, h, m, s = (int(g or 0) for g in match.groups())
    return float(((d * 24 + h) * 60 + m) * 60 + s)


def check_task_def(raw: Any) -> dict[str, Any]:
    """A Conductor TaskDef as stored, or :class:`DefinitionError` with every problem."""
    if not isinstance(raw, dict):
        raise DefinitionError(["a task definition must be a JSON object"])
    problems: list[str] = []
    name = raw.get("name")
    if not isinstance(name, str) or not re.match(r"^[A-Za-z][A-Za-z0-9_.\-]{0,99}$", name):
        problems.append("taskDef.name must be a name of letters, digits, _ . - (at most 100)")
        name = "?"
    here = f"taskDef {name!r}"
    for key in ("retryCount", "retryDelaySeconds", "responseTimeoutSeconds", "timeoutSeconds"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or not 0 <= value <= 86_400 * 365):
            problems.append(f"{here}: {key} must be a whole number of seconds/times, 0 to a year")
    logic = raw.get("retryLogic", "FIXED")
    if logic not in _RETRY_LOGIC:
        problems.append(f"{here}: retryLogic {logic!r} is not supported (FIXED or "
                        "EXPONENTIAL_BACKOFF; Flow has no LINEAR_BACKOFF)")
    if raw.get("timeoutPolicy", "RETRY") not in _TIMEOUT_POLICIES:
        problems.append(f"{here}: timeoutPolicy must be one of {list(_TIMEOUT_POLICIES)}")
    if raw.get("responseTimeoutSeconds") == 0:
        problems.append(f"{here}: responseTimeoutSeconds must be at least 1 (it is the lease)")
    for key, why in (("concurrentExecLimit", "set it on the orchestrator: `bazaar flow serve "
                      "--limit NAME=N`"),
                     ("rateLimitPerFrequency", "Flow has no per-task rate limit"),
                     ("pollTimeoutSeconds", "Flow does not time out unpolled tasks")):
        if not _empty(raw.get(key)):
            problems.append(f"{here}: {key} is not supported ({why})")
    if problems:
        raise DefinitionError(problems)
    return dict(raw)


class Translation:
    """One Conductor WorkflowDef → a Flow definition dict; collects every problem."""

    def __init__(self, task_def: Callable[[str], dict[str, Any] | None]) -> None:
        self.task_def = task_def
        self.problems: list[str] = []

    def workflow(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise DefinitionError(["a workflow definition must be a JSON object"])
        name = raw.get("name")
        for key in sorted(set(raw) - _WORKFLOW_INERT):
            if not _empty(raw[key]):
                self.problems.append(f"workflowDef.{key} is not supported by Bazaar Flow")
        if not isinstance(raw.get("tasks"), list) or not raw["tasks"]:
            self.problems.append("workflowDef.tasks must be a non-empty list")
        out: dict[str, Any] = {
            "name": name, "version": raw.get("version", 1),
            "description": raw.get("description") or "",
            "tasks": self.sequence(raw.get("tasks") or [], "tasks"),
            "output": _expr(raw.get("outputParameters") or {}),
            "conductor": raw,
        }
        if raw.get("failureWorkflow"):
            out["failure_workflow"] = raw["failureWorkflow"]
        timeout, policy = raw.get("timeoutSeconds"), raw.get("timeoutPolicy") or "TIME_OUT_WF"
        if policy not in ("TIME_OUT_WF", "ALERT_ONLY"):
            self.problems.append("workflowDef.timeoutPolicy must be TIME_OUT_WF or ALERT_ONLY")
        if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool)
                                    or not 0 <= timeout <= 86_400 * 365):
            self.problems.append("workflowDef.timeoutSeconds must be a whole number of "
                                 "seconds, 0 (no timeout) to a year")
        elif timeout and policy == "TIME_OUT_WF":
            # Conductor's default policy: the workflow is TIMED_OUT that long after it
            # started (ALERT_ONLY only raises a metric there, and here does nothing).
            out["timeout_s"] = timeout
        if self.problems:
            raise DefinitionError(self.problems)
        return out

    def sequence(self, items: Any, here: str) -> list[dict[str, Any]]:
        if not isinstance(items, list):
            self.problems.append(f"{here} must be a list of tasks")
            return []
        return [self.task(item, f"{here}[{i}]") for i, item in enumerate(items)]

    def task(self, item: Any, here: str) -> dict[str, Any]:
        if not isinstance(item, dict):
            self.problems.append(f"{here} must be an object")
            return {}
        kind = item.get("type", "SIMPLE")
        ref = item.get("taskReferenceName")
        here = f"{here} ({ref})" if isinstance(ref, str) else here
        if kind not in TYPES:
            self.problems.append(f"{here}: task type {kind!r} is not supported (Flow runs "
                                 f"{', '.join(TYPES)})")
            return {}
        for key in sorted(set(item) - _TASK_INERT):
            if not _empty(item[key]):
                self.problems.append(f"{here}: {key} is not supported by Bazaar Flow")
        if not _empty(item.get("startDelay")):
            self.problems.append(f"{here}: startDelay is not supported (put a WAIT before it)")
        if item.get("asyncComplete") and kind != "SIMPLE":
            self.problems.append(f"{here}: asyncComplete is only meaningful for SIMPLE tasks")
        params = item.get("inputParameters") or {}
        if not isinstance(params, dict):
            self.problems.append(f"{here}: inputParameters must be an object")
            params = {}
        out: dict[str, Any] = {"ref": ref, "type": "SWITCH" if kind == "DECISION" else kind}
        if item.get("optional"):
            out["optional"] = True
        build = getattr(self, f"t_{kind.lower()}")
        build(item, params, here, out)
        return out

    def _retry(self, name: str, item: dict[str, Any], here: str, out: dict[str, Any]) -> None:
        found = item.get("taskDefinition") or self.task_def(name)
        if found is None:
            self.problems.append(f"{here}: no task definition {name!r}: register it first "
                                 "(POST /api/metadata/taskdefs) or embed taskDefinition")
            return
        try:
            tdef = {**_DEFAULT_TASK_DEF, **check_task_def({"name": name, **found})}
        except DefinitionError as exc:
            self.problems.extend(f"{here}: {p}" for p in exc.problems)
            return
        retries = tdef["retryCount"] if item.get("retryCount") is None else item["retryCount"]
        delay = float(tdef["retryDelaySeconds"])
        out["retry"] = {"max_attempts": int(retries) + 1,
                        "backoff": _RETRY_LOGIC[tdef["retryLogic"]], "delay_s": delay,
                        "max_delay_s": max(delay * 2 ** min(int(retries), 20), delay, 1.0)
                        if tdef["retryLogic"] != "FIXED" else max(delay, 1.0)}
        lease = float(tdef["responseTimeoutSeconds"])
        total = tdef.get("timeoutSeconds")
        if total:
            lease = min(lease, float(total))
        out["lease_s"] = lease

    def t_simple(self, item: dict[str, Any], params: dict[str, Any], here: str,
                 out: dict[str, Any]) -> None:
        name = item.get("name")
        out["name"], out["input"] = name, _expr(params)
        if isinstance(name, str):
            self._retry(name, item, here, out)

    def t_http(self, item: dict[str, Any], params: dict[str, Any], here: str,
               out: dict[str, Any]) -> None:
        req = params.get("http_request")
        if not isinstance(req, dict) or not isinstance(req.get("uri"), str):
            self.problems.append(f"{here}: an HTTP task needs inputParameters.http_request.uri")
            return
        request: dict[str, Any] = {"url": _expr(req["uri"]), "method": req.get("method", "GET")}
        for ours, theirs in (("headers", "headers"), ("body", "body")):
            if theirs in req:
                request[ours] = _expr(req[theirs])
        if req.get("readTimeOut"):
            request["timeout_s"] = float(req["readTimeOut"]) / 1000.0
        out["request"] = request
        out["input"] = _expr({k: v for k, v in params.items() if k != "http_request"})

    def t_switch(self, item: dict[str, Any], params: dict[str, Any], here: str,
                 out: dict[str, Any]) -> None:
        evaluator = item.get("evaluatorType", "value-param")
        key = item.get("expression") if item.get("type") == "SWITCH" else \
            item.get("caseValueParam")
        if evaluator != "value-param":
            self.problems.append(f"{here}: evaluatorType {evaluator!r} is not supported (Flow "
                                 "runs no scripts; use value-param over an inputParameter)")
        elif not isinstance(key, str) or key not in params:
            self.problems.append(f"{here}: expression must name one of its inputParameters "
                                 "(value-param)")
        else:
            value = params[key]
            out["expression"] = _expr(value) if isinstance(value, str) else str(value)
        cases = item.get("decisionCases") or {}
        if not isinstance(cases, dict):
            self.problems.append(f"{here}: decisionCases must be an object")
            cases = {}
        out["cases"] = {str(k): self.sequence(v, f"{here}.decisionCases.{k}")
                        for k, v in cases.items()}
        out["default"] = self.sequence(item.get("defaultCase") or [], f"{here}.defaultCase")

    t_decision = t_switch

    def t_fork_join(self, item: dict[str, Any], params: dict[str, Any], here: str,
                    out: dict[str, Any]) -> None:
        forks = item.get("forkTasks")
        if not isinstance(forks, list) or not forks:
            self.problems.append(f"{here}: forkTasks must be a non-empty list of branches")
            forks = []
        out["branches"] = [self.sequence(b, f"{here}.forkTasks[{i}]")
                           for i, b in enumerate(forks)]

    def t_join(self, item: dict[str, Any], params: dict[str, Any], here: str,
               out: dict[str, Any]) -> None:
        on = item.get("joinOn")
        if on:
            out["on"] = on

    def t_sub_workflow(self, item: dict[str, Any], params: dict[str, Any], here: str,
                       out: dict[str, Any]) -> None:
        sub = item.get("subWorkflowParam")
        if not isinstance(sub, dict) or not isinstance(sub.get("name"), str):
            self.problems.append(f"{here}: subWorkflowParam.name is required")
            return
        for key in sorted(set(sub) - {"name", "version"}):
            if not _empty(sub[key]):
                self.problems.append(f"{here}: subWorkflowParam.{key} is not supported")
        out["workflow"] = {"name": sub["name"], "version": sub.get("version")}
        out["input"] = _expr(params)

    def t_wait(self, item: dict[str, Any], params: dict[str, Any], here: str,
               out: dict[str, Any]) -> None:
        if "until" in params:
            self.problems.append(f"{here}: WAIT until a date is not supported (use duration)")
        if "duration" in params:
            seconds = parse_duration(params["duration"])
            if seconds is None:
                self.problems.append(f"{here}: WAIT duration {params['duration']!r} is not "
                                     "like '30s', '5m', '1h 30m', '2 days'")
            else:
                out["duration_s"] = seconds

    def t_event(self, item: dict[str, Any], params: dict[str, Any], here: str,
                out: dict[str, Any]) -> None:
        sink = item.get("sink")
        kind, _, topic = sink.partition(":") if isinstance(sink, str) else ("", "", "")
        if kind != "kafka" or not topic:
            self.problems.append(f"{here}: sink must be 'kafka:TOPIC' (Flow publishes EVENT "
                                 "tasks to its log)")
        out["topic"], out["payload"] = topic, _expr(params)

    def t_terminate(self, item: dict[str, Any], params: dict[str, Any], here: str,
                    out: dict[str, Any]) -> None:
        status = params.get("terminationStatus", "COMPLETED")
        if status not in ("COMPLETED", "FAILED", "TERMINATED"):
            self.problems.append(f"{here}: terminationStatus must be COMPLETED, FAILED or "
                                 "TERMINATED")
        out["status"] = "FAILED" if status == "TERMINATED" else status
        out["reason"] = str(params.get("terminationReason") or "")
        out["output"] = _expr(params.get("workflowOutput") or {})


def to_flow(raw: Any, task_def: Callable[[str], dict[str, Any] | None]) -> dict[str, Any]:
    """Translate a Conductor WorkflowDef into a Flow definition, or raise
    :class:`DefinitionError` listing every field that does not map."""
    return Translation(task_def).workflow(raw)


def _ms(seconds: float | None) -> int:
    return 0 if seconds is None else int(seconds * 1000)


#: Flow's execution statuses as Conductor's (compensating is still running).
WORKFLOW_STATUS = {RUNNING: "RUNNING", COMPENSATING: "RUNNING", PAUSED: "PAUSED",
                   COMPLETED: "COMPLETED", FAILED: "FAILED", TERMINATED: "TERMINATED",
                   TIMED_OUT: "TIMED_OUT"}
_TASK_STATUS = {SCHEDULED: "SCHEDULED", HELD: "SCHEDULED", IN_PROGRESS: "IN_PROGRESS",
                COMPLETED: "COMPLETED", FAILED: "FAILED", CANCELED: "CANCELED",
                COMPENSATED: "COMPLETED", SKIPPED: "SKIPPED"}


def task_shape(row: TaskRow, workflow_name: str = "") -> dict[str, Any]:
    """A task attempt as Conductor's ``Task``."""
    status = _TASK_STATUS.get(row.status, row.status)
    if row.status == FAILED and not row.retryable:
        status = "FAILED_WITH_TERMINAL_ERROR"
    out: dict[str, Any] = {
        "taskId": row.id, "taskType": row.type, "taskDefName": row.name,
        "referenceTaskName": row.ref if row.kind == "forward" else f"{row.ref}__undo",
        "workflowInstanceId": row.execution_id, "workflowType": workflow_name,
        "status": status, "inputData": row.input, "outputData": row.output or {},
        "retryCount": row.attempt - 1, "pollCount": row.deliveries, "seq": row.seq,
        "workerId": row.worker_id, "reasonForIncompletion": row.error,
        "responseTimeoutSeconds": int(row.lease_s), "scheduledTime": _ms(row.scheduled_at),
        "startTime": _ms(row.started_at), "endTime": _ms(row.ended_at),
        "updateTime": _ms(row.ended_at or row.started_at or row.scheduled_at),
        "retried": False, "executed": row.ended_at is not None,
        "callbackAfterSeconds": 0, "idempotencyKey": row.idempotency_key,
    }
    if row.child_id is not None:
        out["subWorkflowId"] = row.child_id
    return out


def workflow_shape(execution: ExecutionRow, rows: list[TaskRow] | None) -> dict[str, Any]:
    """An execution as Conductor's ``Workflow`` (``tasks`` only when ``rows`` is given)."""
    out: dict[str, Any] = {
        "workflowId": execution.id, "workflowName": execution.name,
        "workflowVersion": execution.version,
        "status": WORKFLOW_STATUS.get(execution.status, execution.status),
        "input": execution.input, "output": execution.output or {},
        "reasonForIncompletion": execution.reason, "correlationId": execution.correlation_id,
        "idempotencyKey": execution.idempotency_key,
        "parentWorkflowId": execution.parent_id, "parentWorkflowTaskId":
        execution.parent_task_id, "startTime": _ms(execution.created_at),
        "updateTime": _ms(execution.updated_at), "endTime": _ms(execution.ended_at),
        "createTime": _ms(execution.created_at), "priority": 0,
        "failedReferenceTaskNames": [], "variables": {}, "taskToDomain": {},
    }
    if rows is not None:
        out["tasks"] = [task_shape(r, execution.name) for r in rows]
        out["failedReferenceTaskNames"] = sorted({r.ref for r in rows if r.status == FAILED})
    return out

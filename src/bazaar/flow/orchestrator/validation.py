"""Build a :class:`WorkflowDef` from JSON/YAML, collecting every problem before failing."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import orjson
import yaml

from bazaar.flow.errors import DefinitionError
from bazaar.flow.orchestrator import wiring
from bazaar.flow.orchestrator.definition import (
    DEFAULT_COMPENSATION_RETRY,
    DEFAULT_RETRY,
    TASK_TYPES,
    Compensation,
    TaskDef,
    WorkflowDef,
    freeze,
)
from bazaar.flow.orchestrator.retry import parse_retry

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,99}$")
_REF = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
#: ``conductor``: the Conductor WorkflowDef this definition was translated from (opaque;
#: handed back by ``GET /api/metadata/workflow/{name}``).
_TOP = {"name", "version", "description", "tasks", "output", "failure_workflow", "input",
        "conductor", "timeout_s"}
_COMMON = {"ref", "type", "name", "input", "retry", "lease_s", "optional", "compensation",
           "description"}
_SPECIFIC = {
    "SIMPLE": set(), "HTTP": {"request"}, "SWITCH": {"expression", "cases", "default"},
    "FORK_JOIN": {"branches"}, "JOIN": {"on"}, "SUB_WORKFLOW": {"workflow"},
    "WAIT": {"duration_s"}, "EVENT": {"action", "topic", "key", "payload", "match"},
    "TERMINATE": {"status", "output", "reason"},
}
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
KnownWorkflow = Callable[[str, int | None], bool]


def load_text(text: str | bytes) -> dict[str, Any]:
    """Read a JSON or YAML document (YAML is a superset of JSON) into a dict."""
    try:
        data = orjson.loads(text)  # JSON fast path; YAML is the general case
    except orjson.JSONDecodeError:
        data = None
    try:
        data = yaml.safe_load(text) if data is None else data
    except yaml.YAMLError as exc:
        raise DefinitionError([f"not valid JSON or YAML: {exc}"]) from exc
    if not isinstance(data, dict):
        raise DefinitionError(["a workflow definition must be an object"])
    return data


def parse_definition(raw: Mapping[str, Any] | str | bytes,
                     known_workflow: KnownWorkflow | None = None) -> WorkflowDef:
    """Validate ``raw`` and build a :class:`WorkflowDef`, or raise :class:`DefinitionError`.

    ``known_workflow(name, version)`` checks that SUB_WORKFLOW targets exist (skipped if None).
    """
    data = load_text(raw) if isinstance(raw, str | bytes) else dict(raw)
    return _Parser(known_workflow).workflow(data)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Parser:
    def __init__(self, known_workflow: KnownWorkflow | None) -> None:
        self.known = known_workflow
        self.problems: list[str] = []
        self.refs: list[str] = []  # document order

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def workflow(self, data: dict[str, Any]) -> WorkflowDef:
        name = data.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            self.problem("name must be a string of letters, digits, '_', '.', '-' (max 100)")
            name = "?"
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            self.problem("version must be an integer >= 1")
            version = 1
        unknown = set(data) - _TOP
        if unknown:
            self.problem(f"unknown top-level keys {sorted(unknown)}")
        raw_tasks = data.get("tasks")
        tasks: tuple[TaskDef, ...] = ()
        if not isinstance(raw_tasks, list) or not raw_tasks:
            self.problem("tasks must be a non-empty list")
        else:
            tasks = self.sequence(raw_tasks, "tasks")
        output = data.get("output", {})
        if not isinstance(output, dict):
            self.problem("output must be an object")
            output = {}
        self.check_wiring(output, "output", set(self.refs))
        failure = data.get("failure_workflow")
        if failure is not None and (not isinstance(failure, str) or not _NAME.match(failure)):
            self.problem("failure_workflow must be a workflow name")
            failure = None
        timeout = data.get("timeout_s")
        if timeout is not None and (not _number(timeout) or not 0 < timeout <= 86_400 * 365):
            self.problem("timeout_s must be a number of seconds, more than 0, at most a year")
            timeout = None
        description = data.get("description", "")
        if self.problems:
            raise DefinitionError(self.problems)
        return WorkflowDef(name=name, version=version, tasks=tasks, output=freeze(output),
                           failure_workflow=failure, description=str(description),
                           timeout_s=None if timeout is None else float(timeout),
                           raw=freeze({**data, "name": name, "version": version}))

    def sequence(self, raw: list[Any], where: str) -> tuple[TaskDef, ...]:
        out: list[TaskDef] = []
        for i, item in enumerate(raw):
            here = f"{where}[{i}]"
            if not isinstance(item, dict):
                self.problem(f"{here} must be an object")
                continue
            task = self.task(item, here)
            if task is None:
                continue
            previous = out[-1] if out else None
            if task.type == "JOIN":
                if previous is None or previous.type != "FORK_JOIN":
                    self.problem(f"{here} ({task.ref}): a JOIN must follow a FORK_JOIN")
                else:
                    task = self.join(task, previous, here)
            elif previous is not None and previous.type == "FORK_JOIN":
                self.problem(f"{here}: the FORK_JOIN {previous.ref} must be followed by a JOIN")
            out.append(task)
        if out and out[-1].type == "FORK_JOIN":
            self.problem(f"{where}: the FORK_JOIN {out[-1].ref} must be followed by a JOIN")
        return tuple(out)

    def join(self, task: TaskDef, fork: TaskDef, here: str) -> TaskDef:
        inside = {t.ref for branch in fork.branches for t in _flatten(branch)}
        on = task.join_on or tuple(branch[-1].ref for branch in fork.branches if branch)
        missing = [r for r in on if r not in inside]
        if missing:
            self.problem(f"{here} ({task.ref}): joins on {missing}, not in {fork.ref}'s branches")
        return TaskDef(**{**task.__dict__, "join_on": tuple(on)})

    def task(self, item: dict[str, Any], here: str) -> TaskDef | None:
        ref, kind = item.get("ref"), item.get("type", "SIMPLE")
        if not isinstance(ref, str) or not _REF.match(ref) or ref == "workflow":
            self.problem(f"{here}.ref must be an identifier (letters, digits, _, -), "
                         f"not 'workflow'")
            return None
        here = f"{here} ({ref})"
        if ref in self.refs:
            self.problem(f"{here}: ref {ref!r} is used twice")
        self.refs.append(ref)
        if kind not in TASK_TYPES:
            self.problem(f"{here}: type must be one of {list(TASK_TYPES)}")
            return None
        unknown = set(item) - _COMMON - _SPECIFIC[kind]
        if unknown:
            self.problem(f"{here}: unknown keys for {kind}: {sorted(unknown)}")
        name = item.get("name", kind.lower() if kind != "SIMPLE" else None)
        if not isinstance(name, str) or not _NAME.match(name):
            self.problem(f"{here}: name must be a task name (the queue workers poll)")
            name = "?"
        template = item.get("input", {})
        if not isinstance(template, dict):
            self.problem(f"{here}.input must be an object")
            template = {}
        earlier = set(self.refs[:-1])
        self.check_wiring(template, f"{here}.input", earlier)
        lease = item.get("lease_s", 30.0)
        if not _number(lease) or lease <= 0:
            self.problem(f"{here}.lease_s must be a number > 0")
            lease = 30.0
        optional = item.get("optional", False)
        if not isinstance(optional, bool):
            self.problem(f"{here}.optional must be true or false")
        fields: dict[str, Any] = {
            "ref": ref, "type": kind, "name": name, "input": freeze(template),
            "retry": parse_retry(item.get("retry"), here, self.problems, DEFAULT_RETRY),
            "lease_s": float(lease), "optional": bool(optional),
            "compensation": self.compensation(item.get("compensation"), here, kind,
                                              earlier | {ref}),
        }
        getattr(self, f"t_{kind.lower()}")(item, here, fields, earlier)
        return TaskDef(**fields)

    def compensation(self, raw: object, here: str, kind: str,
                     visible: set[str]) -> Compensation | None:
        if raw is None:
            return None
        if kind not in ("SIMPLE", "HTTP"):
            self.problem(f"{here}: only SIMPLE and HTTP tasks take a compensation")
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            self.problem(f"{here}.compensation must be an object with a task name")
            return None
        unknown = set(raw) - {"name", "input", "retry", "lease_s", "on_failure"}
        if unknown:
            self.problem(f"{here}.compensation has unknown keys {sorted(unknown)}")
        template = raw.get("input", {})
        if not isinstance(template, dict):
            self.problem(f"{here}.compensation.input must be an object")
            template = {}
        self.check_wiring(template, f"{here}.compensation.input", visible)
        lease = raw.get("lease_s", 30.0)
        if not _number(lease) or lease <= 0:
            self.problem(f"{here}.compensation.lease_s must be a number > 0")
            lease = 30.0
        return Compensation(
            name=raw["name"], input=freeze(template),
            retry=parse_retry(raw.get("retry"), f"{here}.compensation", self.problems,
                              DEFAULT_COMPENSATION_RETRY),
            lease_s=float(lease), on_failure=raw.get("on_failure") is True)

    def check_wiring(self, template: Any, where: str, visible: set[str]) -> None:
        for expr in wiring.expressions(template):
            try:
                root, _ = wiring.check_expression(expr)
            except ValueError as exc:
                self.problem(f"{where}: {exc}")
                continue
            if root != "workflow" and root not in visible:
                self.problem(f"{where}: ${{{expr}}} names {root!r}, which is not an earlier task")

    # --- type-specific fields ---------------------------------------------------------------
    def t_simple(self, item: dict[str, Any], here: str, f: dict[str, Any], _: set[str]) -> None:
        if "name" not in item:
            self.problem(f"{here}: a SIMPLE task needs a name (the queue workers poll)")

    def t_http(self, item: dict[str, Any], here: str, f: dict[str, Any], vis: set[str]) -> None:
        request = item.get("request")
        if not isinstance(request, dict) or not isinstance(request.get("url"), str):
            self.problem(f"{here}: an HTTP task needs request.url")
            return
        method = str(request.get("method", "GET")).upper()
        if method not in _METHODS:
            self.problem(f"{here}: request.method must be one of {list(_METHODS)}")
        timeout = request.get("timeout_s", 10.0)
        if not _number(timeout) or timeout <= 0:
            self.problem(f"{here}: request.timeout_s must be a number > 0")
        self.check_wiring(request, f"{here}.request", vis)
        f["options"] = freeze({"request": {**request, "method": method}})

    def t_switch(self, item: dict[str, Any], here: str, f: dict[str, Any], vis: set[str]) -> None:
        expression = item.get("expression")
        if not isinstance(expression, str) or not list(wiring.expressions(expression)):
            self.problem(f"{here}: a SWITCH needs an expression like ${{ref.output.field}}")
            expression = ""
        self.check_wiring(expression, f"{here}.expression", vis)
        cases = item.get("cases", {})
        if not isinstance(cases, dict):
            self.problem(f"{here}.cases must map values to task lists")
            cases = {}
        parsed = {}
        for key, seq in cases.items():
            if not isinstance(seq, list):
                self.problem(f"{here}.cases[{key!r}] must be a list of tasks")
                continue
            parsed[str(key)] = self.sequence(seq, f"{here}.cases[{key!r}]")
        default = item.get("default", [])
        if not isinstance(default, list):
            self.problem(f"{here}.default must be a list of tasks")
            default = []
        f.update(expression=expression, cases=MappingProxyType(parsed),
                 default=self.sequence(default, f"{here}.default"))

    def t_fork_join(self, item: dict[str, Any], here: str, f: dict[str, Any], _: set[str]) -> None:
        branches = item.get("branches")
        if (not isinstance(branches, list) or not branches
                or not all(isinstance(b, list) and b for b in branches)):
            self.problem(f"{here}: a FORK_JOIN needs branches: a list of non-empty task lists")
            return
        f["branches"] = tuple(self.sequence(b, f"{here}.branches[{i}]")
                              for i, b in enumerate(branches))

    def t_join(self, item: dict[str, Any], here: str, f: dict[str, Any], _: set[str]) -> None:
        on = item.get("on", [])
        if not isinstance(on, list) or not all(isinstance(r, str) for r in on):
            self.problem(f"{here}.on must be a list of refs")
            on = []
        f["join_on"] = tuple(on)

    def t_sub_workflow(self, item: dict[str, Any], here: str, f: dict[str, Any],
                       _: set[str]) -> None:
        target = item.get("workflow")
        if not isinstance(target, dict) or not isinstance(target.get("name"), str):
            self.problem(f"{here}: a SUB_WORKFLOW needs workflow: {{name, version?}}")
            return
        version = target.get("version")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            self.problem(f"{here}: workflow.version must be an integer")
            version = None
        if self.known is not None and not self.known(target["name"], version):
            self.problem(f"{here}: no registered workflow {target['name']!r} "
                         f"version {version or 'latest'}")
        f["workflow"] = (target["name"], version)

    def t_wait(self, item: dict[str, Any], here: str, f: dict[str, Any], _: set[str]) -> None:
        duration = item.get("duration_s")
        if duration is not None and (not _number(duration) or duration < 0):
            self.problem(f"{here}.duration_s must be a number >= 0 (omit it to wait for a signal)")
            duration = None
        f["duration_s"] = None if duration is None else float(duration)

    def t_event(self, item: dict[str, Any], here: str, f: dict[str, Any], vis: set[str]) -> None:
        action = item.get("action", "publish")
        if action not in ("publish", "wait"):
            self.problem(f"{here}.action must be 'publish' or 'wait'")
        if not isinstance(item.get("topic"), str) or not item["topic"]:
            self.problem(f"{here}: an EVENT task needs a topic")
        if action == "wait" and not isinstance(item.get("match", {}), dict):
            self.problem(f"{here}.match must be an object of field: value")
        for key in ("payload", "match", "key"):
            self.check_wiring(item.get(key), f"{here}.{key}", vis)
        f["options"] = freeze({k: item[k] for k in ("action", "topic", "key", "payload", "match")
                               if k in item} | {"action": action})

    def t_terminate(self, item: dict[str, Any], here: str, f: dict[str, Any],
                    vis: set[str]) -> None:
        status = item.get("status", "COMPLETED")
        if status not in ("COMPLETED", "FAILED"):
            self.problem(f"{here}.status must be COMPLETED or FAILED")
        output = item.get("output", {})
        if not isinstance(output, dict):
            self.problem(f"{here}.output must be an object")
            output = {}
        self.check_wiring(output, f"{here}.output", vis)
        f["options"] = freeze({"status": status, "output": output,
                               "reason": str(item.get("reason", ""))})


def _flatten(seq: tuple[TaskDef, ...]) -> list[TaskDef]:
    out: list[TaskDef] = []
    for t in seq:
        out.append(t)
        for child in t.children():
            out.extend(_flatten(child))
    return out

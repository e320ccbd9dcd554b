"""Conductor definitions translated into Flow's and registered with a real engine: every
mapped type lands where docs/flow.md says, and what does not map is refused by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.support.flow import make_engine

from bazaar.flow.errors import DefinitionError
from bazaar.flow.orchestrator.conductor import check_task_def, parse_duration, to_flow

DEFS = {"a": {"name": "a", "retryCount": 2, "retryLogic": "EXPONENTIAL_BACKOFF",
              "retryDelaySeconds": 1, "responseTimeoutSeconds": 20, "timeoutSeconds": 10}}


def task(ref: str, kind: str = "SIMPLE", **more: Any) -> dict[str, Any]:
    return {"name": more.pop("name", "a"), "taskReferenceName": ref, "type": kind, **more}


def test_every_mapped_type_registers_with_the_engine(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    engine.register({"name": "child", "tasks": [{"ref": "x", "name": "a"}]})
    wf = {"name": "all", "version": 3, "timeoutSeconds": 60, "tasks": [
        task("s", inputParameters={"id": "${workflow.workflowId}", "x": "${workflow.input.x}"}),
        task("sw", "SWITCH", evaluatorType="value-param", expression="k",
             inputParameters={"k": "${s.output.kind}"},
             decisionCases={"big": [task("big")]}, defaultCase=[task("small")]),
        task("fork", "FORK_JOIN", forkTasks=[[task("l")], [task("r")]]),
        task("join", "JOIN", joinOn=["l", "r"]),
        task("sub", "SUB_WORKFLOW", subWorkflowParam={"name": "child", "version": 1}),
        task("nap", "WAIT", inputParameters={"duration": "1h 5m"}),
        task("http", "HTTP", inputParameters={"http_request": {
            "uri": "http://127.0.0.1:1/${s.output.id}", "method": "POST", "body": {"a": 1}}}),
        task("stop", "TERMINATE", inputParameters={"terminationStatus": "FAILED",
                                                   "terminationReason": "enough"}),
    ], "outputParameters": {"id": "${s.output.id}"}}
    defn = engine.register(to_flow(wf, DEFS.get))
    assert (defn.name, defn.version) == ("all", 3)
    s = defn.task("s")
    assert s.input["id"] == "${workflow.id}" and s.lease_s == 10.0
    assert (s.retry.max_attempts, s.retry.backoff, s.retry.delay_s) == (3, "exponential", 1.0)
    assert defn.task("sw").expression == "${s.output.kind}"
    assert [t.ref for t in defn.task("sw").cases["big"]] == ["big"]
    assert defn.task("join").join_on == ("l", "r")
    assert defn.task("sub").workflow == ("child", 1)
    assert defn.task("nap").duration_s == 3900.0
    assert defn.task("http").options["request"]["url"] == "http://127.0.0.1:1/${s.output.id}"
    assert defn.task("stop").options["status"] == "FAILED"
    assert defn.to_dict()["conductor"]["name"] == "all"


def test_what_does_not_map_is_refused_with_every_reason() -> None:
    wf = {"name": "bad", "taskToDomain": {"a": "x"}, "tasks": [
        task("loop", "DO_WHILE"), task("n", name="unknown"),
        task("js", "SWITCH", evaluatorType="graaljs", expression="$.a"),
        task("w", "WAIT", inputParameters={"duration": "soon"}),
        task("e", "EVENT", sink="sqs:q"), task("d", startDelay=5)]}
    with pytest.raises(DefinitionError) as refused:
        to_flow(wf, DEFS.get)
    text = " ".join(refused.value.problems)
    for needle in ("taskToDomain", "DO_WHILE", "no task definition 'unknown'", "graaljs",
                   "'soon'", "kafka:TOPIC", "startDelay"):
        assert needle in text, needle


@pytest.mark.parametrize("bad", [{"name": "x", "retryLogic": "LINEAR_BACKOFF"},
                                 {"name": "x", "retryCount": -1},
                                 {"name": "x", "retryCount": 2**70},
                                 {"name": "x", "concurrentExecLimit": 3},
                                 {"name": "x", "responseTimeoutSeconds": 0},
                                 {"name": "9bad"}, ["not", "an", "object"]])
def test_bad_task_definitions_are_refused(bad: Any) -> None:
    with pytest.raises(DefinitionError):
        check_task_def(bad)


def test_wait_durations() -> None:
    assert parse_duration("30s") == 30 and parse_duration("2 days") == 172800
    assert parse_duration("1h 30m") == 5400
    assert parse_duration("") is None and parse_duration("soon") is None
    assert parse_duration(5) is None

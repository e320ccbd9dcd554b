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


def test_workflow_timeout_seconds_times_the_workflow_out_and_runs_its_failure_workflow(
        tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.register(to_flow({"name": "undo", "tasks": [task("u", inputParameters={
        "order": "${workflow.input.order}", "why": "${workflow.input.reason}",
        "status": "${workflow.input.failureStatus}"})]}, DEFS.get))
    engine.register(to_flow({"name": "slow", "timeoutSeconds": 30, "failureWorkflow": "undo",
                             "tasks": [task("a1"), task("a2")]}, DEFS.get))
    engine.register(to_flow({"name": "alert", "timeoutSeconds": 30,
                             "timeoutPolicy": "ALERT_ONLY", "tasks": [task("a1")]}, DEFS.get))
    run = engine.start("slow", {"order": 7}, correlation_id="order-7")
    engine.complete(engine.poll("a", "w")[0].id, {})        # a1 done, a2 leased and running
    leased = engine.poll("a", "w")[0]
    quiet = engine.start("alert", {})
    clock.advance(29)
    assert engine.sweep().timed_out == 0
    clock.advance(2)
    assert engine.sweep().timed_out == 1
    gone = engine.get(run.id)
    assert gone.status == "TIMED_OUT" and "timeout of 30 s" in (gone.reason or "")
    assert [t.status for t in engine.tasks(run.id)] == ["COMPLETED", "CANCELED"]
    assert engine.complete(leased.id, {"late": True}) is False   # a late result is ignored
    assert engine.get(quiet.id).status == "RUNNING"               # ALERT_ONLY: not timed out
    # Conductor's failure-workflow input: the failed workflow's input plus who and why.
    undo = engine.correlated("undo", "order-7")
    assert len(undo) == 1 and engine.get(gone.id).failure_execution_id == undo[0].id
    (u,) = engine.tasks(undo[0].id)
    assert u.input == {"order": 7, "why": gone.reason, "status": "TIMED_OUT"}
    # A timed-out workflow can be retried, with a fresh deadline.
    engine.retry(run.id)
    again = engine.get(run.id)
    assert again.status == "RUNNING" and again.deadline_at == clock() + 30


def test_correlation_ids_are_stored_and_found_per_workflow_name(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    engine.register(to_flow({"name": "one", "tasks": [task("x")]}, DEFS.get))
    first = engine.start("one", {}, correlation_id="c1")
    second = engine.start("one", {}, correlation_id="c1")
    engine.start("one", {}, correlation_id="c2")
    engine.terminate(first.id)
    assert [e.id for e in engine.correlated("one", "c1")] == [first.id, second.id]
    assert [e.id for e in engine.correlated("one", "c1", include_closed=False)] == [second.id]
    assert engine.correlated("other", "c1") == [] and engine.correlated("one", "c9") == []


@pytest.mark.parametrize("bad", [{"timeoutSeconds": -1}, {"timeoutSeconds": "60"},
                                 {"timeoutPolicy": "SOMETIMES"}])
def test_bad_workflow_timeouts_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(DefinitionError) as refused:
        to_flow({"name": "t", "tasks": [task("x")], **bad}, DEFS.get)
    assert "timeout" in " ".join(refused.value.problems)

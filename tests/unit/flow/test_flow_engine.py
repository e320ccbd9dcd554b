"""The engine on a real SQLite store with a hand-moved clock: every path a saga can take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.support.flow import SAGA, make_engine, work_one

from bazaar.flow import DefinitionError, InvalidState, LeaseLost, NotFound, StartConflict


def statuses(engine: Any, execution_id: str) -> list[tuple[str, str, str, int]]:
    return [(t.ref, t.kind, t.status, t.attempt) for t in engine.tasks(execution_id)]


def test_happy_path_wires_outputs_and_completes(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    engine.register(SAGA)
    run = engine.start("saga", {"order": 7})
    leased = engine.poll("reserve", "w")
    assert leased[0].input == {"order": 7}
    engine.complete(leased[0].id, {"id": "r1"})
    work_one(engine, "charge", {"id": "c1"})
    assert engine.poll("ship", "w")[0].input == {"charge": "c1"}
    engine.complete(engine.tasks(run.id)[-1].id, {"id": "s1"})
    work_one(engine, "notify")
    done = engine.get(run.id)
    assert done.status == "COMPLETED" and done.output == {"shipment": "s1"}


def test_retry_waits_for_its_backoff_then_runs_as_a_new_attempt(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.register(SAGA)
    run = engine.start("saga", {"order": 1})
    first = engine.poll("reserve", "w")[0]
    assert engine.fail(first.id, "db busy")
    assert engine.poll("reserve", "w") == []  # backoff: 1 s fixed
    clock.advance(1.01)
    second = engine.poll("reserve", "w")[0]
    assert second.attempt == 2 and second.idempotency_key != first.idempotency_key
    engine.complete(second.id, {"id": "r"})
    assert ("reserve", "forward", "FAILED", 1) in statuses(engine, run.id)


def test_failure_compensates_in_reverse_order_then_fails_with_reason(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.register({**SAGA, "failure_workflow": "cleanup"})
    engine.register({"name": "cleanup", "tasks": [{"ref": "log", "name": "log_failure",
                                                   "input": {"why": "${workflow.input.reason}"}}]})
    run = engine.start("saga", {"order": 1})
    work_one(engine, "reserve", {"id": "r1"})
    work_one(engine, "charge", {"id": "c1"})
    ship = engine.poll("ship", "w")[0]
    engine.fail(ship.id, "no carrier", retryable=False)
    assert engine.get(run.id).status == "COMPENSATING"
    assert engine.poll("release", "w") == []  # refund first: reverse completion order
    refund = engine.poll("refund", "w")[0]
    assert refund.input == {"id": "c1"}
    engine.fail(refund.id, "provider down")  # compensations are retried too
    clock.advance(60)
    work_one(engine, "refund")
    release = engine.poll("release", "w")[0]
    assert release.input == {"id": "r1"}
    engine.complete(release.id, {})
    failed = engine.get(run.id)
    assert failed.status == "FAILED"
    assert "ship" in (failed.reason or "") and "no carrier" in (failed.reason or "")
    kinds = {(t.ref, t.kind): t.status for t in engine.tasks(run.id)}
    assert kinds[("reserve", "forward")] == "COMPENSATED"
    assert kinds[("charge", "forward")] == "COMPENSATED"
    assert failed.failure_execution_id is not None
    log = engine.poll("log_failure", "w")[0]
    assert "no carrier" in log.input["why"]


def test_exhausted_retries_fail_the_step(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.register(SAGA)
    run = engine.start("saga", {"order": 1})
    for _ in range(2):
        engine.fail(engine.poll("reserve", "w")[0].id, "down")
        clock.advance(5)
    assert engine.get(run.id).status == "FAILED"  # nothing completed: nothing to undo
    assert "after 2 attempt(s)" in (engine.get(run.id).reason or "")


def test_a_lapsed_lease_redelivers_the_same_attempt_and_first_result_wins(
        tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.register(SAGA)
    run = engine.start("saga", {"order": 1})
    lost = engine.poll("reserve", "slow")[0]
    engine.heartbeat(lost.id, "slow")
    clock.advance(31)
    assert engine.sweep().leases_lapsed == 1
    again = engine.poll("reserve", "fast")[0]
    assert (again.id, again.idempotency_key, again.deliveries) == (
        lost.id, lost.idempotency_key, 2)
    with pytest.raises(LeaseLost):
        engine.heartbeat(lost.id, "slow")
    assert engine.complete(lost.id, {"id": "from-slow"}, worker_id="slow")
    assert not engine.complete(again.id, {"id": "from-fast"}, worker_id="fast")
    assert engine.tasks(run.id)[0].output == {"id": "from-slow"}
    assert len(engine.poll("charge", "w")) == 1  # the step ran once as far as the flow goes


def test_idempotent_start(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    engine.register(SAGA)
    first = engine.start("saga", {"order": 1}, idempotency_key="order-1")
    again = engine.start("saga", {"order": 1}, idempotency_key="order-1")
    assert (again.id, again.created) == (first.id, False)
    with pytest.raises(StartConflict) as info:
        engine.start("saga", {"order": 1}, idempotency_key="order-1", on_conflict="fail")
    assert info.value.existing_id == first.id
    assert len(engine.executions()) == 1


def test_versions_are_immutable_and_executions_pin_theirs(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    engine.register(SAGA)
    engine.register(SAGA)  # identical: fine
    with pytest.raises(DefinitionError, match="bump version"):
        engine.register({**SAGA, "tasks": SAGA["tasks"][:1], "output": {}})
    old = engine.start("saga", {"order": 1})
    engine.register({**SAGA, "version": 2, "tasks": SAGA["tasks"][:1], "output": {}})
    new = engine.start("saga", {"order": 2})
    work_one(engine, "reserve")
    work_one(engine, "reserve")
    assert engine.get(new.id).status == "COMPLETED" and engine.get(new.id).version == 2
    assert engine.get(old.id).status == "RUNNING"  # v1 still has charge, ship, notify
    assert engine.poll("charge", "w")[0].execution_id == old.id


def test_pause_holds_work_and_resume_releases_it(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    engine.register(SAGA)
    run = engine.start("saga", {"order": 1})
    engine.pause(run.id)
    assert engine.poll("reserve", "w") == []
    with pytest.raises(InvalidState):
        engine.pause(run.id)
    engine.resume(run.id)
    work_one(engine, "reserve")
    assert engine.get(run.id).status == "RUNNING"


def test_terminate_then_retry_resumes_where_it_stopped(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    engine.register(SAGA)
    run = engine.start("saga", {"order": 1})
    work_one(engine, "reserve")
    engine.terminate(run.id, "operator says stop")
    assert engine.get(run.id).status == "TERMINATED"
    assert engine.poll("charge", "w") == []
    with pytest.raises(InvalidState):
        engine.terminate(run.id)
    engine.retry(run.id)
    work_one(engine, "charge")
    work_one(engine, "ship")
    work_one(engine, "notify")
    assert engine.get(run.id).status == "COMPLETED"
    assert [t.status for t in engine.tasks(run.id) if t.ref == "reserve"] == ["COMPLETED"]


def test_retry_of_a_compensated_execution_runs_the_steps_again(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    engine.register(SAGA)
    run = engine.start("saga", {"order": 1})
    work_one(engine, "reserve")
    engine.fail(engine.poll("charge", "w")[0].id, "declined", retryable=False)
    work_one(engine, "release")
    assert engine.get(run.id).status == "FAILED"
    with pytest.raises(InvalidState):
        engine.resume(run.id)
    engine.retry(run.id)
    work_one(engine, "reserve")
    work_one(engine, "charge")
    work_one(engine, "ship")
    work_one(engine, "notify")
    assert engine.get(run.id).status == "COMPLETED"


def test_concurrency_limit_per_queue(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path, limits={"reserve": 2})
    engine.register(SAGA)
    for order in range(5):
        engine.start("saga", {"order": order})
    assert len(engine.poll("reserve", "w", count=5)) == 2
    assert engine.poll("reserve", "w", count=5) == []


def test_switch_fork_join_wait_terminate_and_sub_workflow(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.register({"name": "child", "tasks": [{"ref": "c", "name": "child_step"}],
                     "output": {"got": "${c.output.v}"}})
    engine.register({"name": "parent", "tasks": [
        {"ref": "pick", "type": "SWITCH", "expression": "${workflow.input.kind}",
         "cases": {"true": [{"ref": "yes", "name": "yes"}]},
         "default": [{"ref": "no", "type": "TERMINATE", "status": "COMPLETED",
                      "output": {"short": True}}]},
        {"ref": "fork", "type": "FORK_JOIN", "branches": [
            [{"ref": "sub", "type": "SUB_WORKFLOW", "workflow": {"name": "child"}}],
            [{"ref": "nap", "type": "WAIT", "duration_s": 10}],
            [{"ref": "hold", "type": "WAIT"}]]},
        {"ref": "join", "type": "JOIN"},
    ], "output": {"child": "${sub.output.got}", "join": "${join.output}"}})
    short = engine.start("parent", {"kind": "other"})
    assert engine.get(short.id).status == "COMPLETED"
    assert engine.get(short.id).output == {"short": True}
    run = engine.start("parent", {"kind": True})
    work_one(engine, "yes")
    work_one(engine, "child_step", {"v": 42})
    assert engine.get(run.id).status == "RUNNING"
    clock.advance(10)
    assert engine.sweep().timers_fired == 1
    with pytest.raises(InvalidState):
        engine.signal(run.id, "nap")
    engine.signal(run.id, "hold", {"by": "ops"})
    done = engine.get(run.id)
    assert done.status == "COMPLETED"
    assert done.output is not None and done.output["child"] == 42
    assert done.output["join"]["hold"] == {"by": "ops"}


def test_failing_child_fails_the_parent_step(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    engine.register({"name": "child", "tasks": [{"ref": "c", "name": "child_step",
                                                 "retry": {"max_attempts": 1}}]})
    engine.register({"name": "parent", "tasks": [
        {"ref": "sub", "type": "SUB_WORKFLOW", "workflow": {"name": "child"},
         "retry": {"max_attempts": 1}}]})
    run = engine.start("parent", {})
    engine.fail(engine.poll("child_step", "w")[0].id, "boom")
    assert engine.get(run.id).status == "FAILED"
    assert "boom" in (engine.get(run.id).reason or "")


def test_terminate_failed_compensates(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    engine.register({"name": "t", "tasks": [
        SAGA["tasks"][0],
        {"ref": "stop", "type": "TERMINATE", "status": "FAILED", "reason": "out of stock"}]})
    run = engine.start("t", {"order": 1})
    work_one(engine, "reserve")
    assert engine.get(run.id).status == "COMPENSATING"
    work_one(engine, "release")
    assert engine.get(run.id).status == "FAILED"
    assert engine.get(run.id).reason == "out of stock"


def test_unknown_things_raise_not_found(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    with pytest.raises(NotFound):
        engine.start("nope", {})
    with pytest.raises(NotFound):
        engine.get("nope")
    with pytest.raises(NotFound):
        engine.complete("nope", {})
    with pytest.raises(ValueError):
        engine.poll("q", "w", count=0)


def test_batched_reports_count_each_item_alone(tmp_path: Path) -> None:
    engine, _ = make_engine(tmp_path)
    engine.register(SAGA)
    runs = [engine.start("saga", {"order": i}).id for i in range(3)]
    leased = engine.poll("reserve", "w", count=3)
    answers = engine.report([
        {"task_id": leased[0].id, "status": "COMPLETED", "output": {"id": "a"}},
        {"task_id": "nope", "status": "COMPLETED"},
        {"task_id": leased[1].id, "status": "COMPLETED", "output": "not an object"},
        {"task_id": leased[2].id, "status": "FAILED", "error": "x", "retryable": False},
        {"task_id": leased[0].id, "status": "COMPLETED", "output": {"id": "again"}},
    ])
    assert answers[0] is True and answers[3] is True and answers[4] is False
    assert isinstance(answers[1], str) and isinstance(answers[2], str)
    assert engine.tasks(runs[0])[0].output == {"id": "a"}
    assert engine.tasks(runs[1])[0].status == "IN_PROGRESS"  # the bad item changed nothing
    assert engine.get(runs[2]).status == "FAILED"

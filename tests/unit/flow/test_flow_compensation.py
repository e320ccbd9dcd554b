"""Compensation as a user relies on it: newest completion undone first (even when that is
not the definition order), uncertain steps undone when they ask for it (``on_failure``),
and the failure workflow started with the failed execution's facts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.flow import make_engine, work_one

# Two parallel branches: "hold_seat" is defined first, "hold_meal" second. Either may
# finish first; "pay" runs after the join and may fail.
FORK: dict[str, Any] = {
    "name": "trip",
    "tasks": [
        {"ref": "fork", "type": "FORK_JOIN", "branches": [
            [{"ref": "seat", "name": "hold_seat", "input": {"trip": "${workflow.input.trip}"},
              "compensation": {"name": "free_seat", "input": {"id": "${seat.output.id}"}}}],
            [{"ref": "meal", "name": "hold_meal", "input": {"trip": "${workflow.input.trip}"},
              "compensation": {"name": "free_meal", "input": {"id": "${meal.output.id}"}}}]]},
        {"ref": "join", "type": "JOIN"},
        {"ref": "pay", "name": "pay", "input": {"trip": "${workflow.input.trip}"},
         "retry": {"max_attempts": 1}},
    ],
}


def _undo_order(engine: Any, clock: Any, queues: tuple[str, ...]) -> list[str]:
    """Work the compensation queues until none has work; the queues in the order run."""
    order: list[str] = []
    for _ in range(10):
        clock.advance(1)
        leased = [(q, t) for q in queues for t in engine.poll(q, "w")]
        if not leased:
            return order
        assert len(leased) == 1, "compensations run one at a time"
        queue, task = leased[0]
        engine.complete(task.id, {})
        order.append(queue)
    raise AssertionError(f"compensation did not finish: {order}")


def test_compensation_follows_completion_time_not_definition_order(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.register(FORK)
    run = engine.start("trip", {"trip": 9})
    seat = engine.poll("hold_seat", "w")[0]
    meal = engine.poll("hold_meal", "w")[0]
    engine.complete(meal.id, {"id": "m1"})  # the second branch finishes first ...
    clock.advance(5)
    engine.complete(seat.id, {"id": "s1"})  # ... and the first one last
    engine.fail(engine.poll("pay", "w")[0].id, "card declined", retryable=False)
    assert engine.get(run.id).status == "COMPENSATING"
    # Newest completion first: the seat (completed last) is freed before the meal,
    # although the meal branch comes later in the definition.
    first = engine.poll("free_seat", "w")
    assert engine.poll("free_meal", "w") == []
    assert [t.input for t in first] == [{"id": "s1"}]
    engine.complete(first[0].id, {})
    clock.advance(1)
    second = engine.poll("free_meal", "w")
    assert [t.input for t in second] == [{"id": "m1"}]
    engine.complete(second[0].id, {})
    assert engine.get(run.id).status == "FAILED"


def test_compensation_order_when_the_first_branch_finishes_first(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.register(FORK)
    run = engine.start("trip", {"trip": 9})
    work_one(engine, "hold_seat", {"id": "s1"})
    clock.advance(5)
    work_one(engine, "hold_meal", {"id": "m1"})
    engine.fail(engine.poll("pay", "w")[0].id, "card declined", retryable=False)
    assert _undo_order(engine, clock, ("free_seat", "free_meal")) == ["free_meal", "free_seat"]
    assert engine.get(run.id).status == "FAILED"


# "charge" may time out after the provider took the money: on_failure says undo it anyway.
UNCERTAIN: dict[str, Any] = {
    "name": "buy",
    "failure_workflow": "apologise",
    "tasks": [
        {"ref": "reserve", "name": "reserve", "input": {"order": "${workflow.input.order}"},
         "compensation": {"name": "release", "input": {"id": "${reserve.output.id}"}}},
        {"ref": "charge", "name": "charge",
         "input": {"order": "${workflow.input.order}", "cents": "${workflow.input.cents}"},
         "retry": {"max_attempts": 2, "backoff": "fixed", "delay_s": 1},
         "compensation": {"name": "refund", "on_failure": True,
                          "input": {"order": "${charge.input.order}",
                                    "cents": "${charge.input.cents}"}}},
        {"ref": "ship", "name": "ship", "input": {"order": "${workflow.input.order}"},
         "retry": {"max_attempts": 1},
         "compensation": {"name": "unship", "input": {}}},
    ],
}
APOLOGISE: dict[str, Any] = {"name": "apologise", "tasks": [
    {"ref": "mail", "name": "mail", "input": {"about": "${workflow.input.workflow_id}",
                                              "why": "${workflow.input.reason}",
                                              "order": "${workflow.input.input.order}"}}]}


def test_a_failed_step_with_on_failure_is_compensated_with_its_own_input(
        tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.register(UNCERTAIN)
    engine.register(APOLOGISE)
    run = engine.start("buy", {"order": 5, "cents": 1200})
    work_one(engine, "reserve", {"id": "r5"})
    for _ in range(2):  # both attempts time out: did the provider charge? unknown
        clock.advance(2)
        engine.fail(engine.poll("charge", "w")[0].id, "provider timed out")
    assert engine.get(run.id).status == "COMPENSATING"
    clock.advance(1)
    refund = engine.poll("refund", "w")
    assert [t.input for t in refund] == [{"order": 5, "cents": 1200}]
    assert engine.poll("release", "w") == []  # one at a time: the refund first
    engine.complete(refund[0].id, {})
    clock.advance(1)
    work_one(engine, "release")
    clock.advance(1)
    assert engine.poll("unship", "w") == []  # ship never ran: nothing to undo
    failed = engine.get(run.id)
    assert failed.status == "FAILED"
    forward = {t.ref: t.status for t in engine.tasks(run.id) if t.kind == "forward"}
    assert forward["charge"] == "COMPENSATED" and forward["reserve"] == "COMPENSATED"
    assert "ship" not in forward

    # The failure workflow starts once, with the failed execution's id, name, reason, input.
    assert failed.failure_execution_id is not None
    apology = engine.get(failed.failure_execution_id)
    assert apology.name == "apologise" and apology.status == "RUNNING"
    assert apology.input == {"workflow_id": run.id, "name": "buy", "reason": failed.reason,
                             "input": {"order": 5, "cents": 1200}}
    assert "provider timed out" in (failed.reason or "")
    mail = engine.poll("mail", "w")
    assert [t.input for t in mail] == [{"about": run.id, "why": failed.reason, "order": 5}]
    assert [e.id for e in engine.executions() if e.name == "apologise"] == [apology.id]


def test_a_failed_step_without_on_failure_is_not_compensated(tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.register(UNCERTAIN)
    run = engine.start("buy", {"order": 6, "cents": 100})
    work_one(engine, "reserve", {"id": "r6"})
    work_one(engine, "charge", {"id": "c6"})
    engine.fail(engine.poll("ship", "w")[0].id, "no carrier", retryable=False)
    assert _undo_order(engine, clock, ("release", "refund", "unship")) == ["refund", "release"]
    assert engine.get(run.id).status == "FAILED"
    # The failure workflow is not registered: the execution still fails, with a note.
    assert engine.get(run.id).failure_execution_id is None



def test_a_compensation_that_fails_for_good_fails_the_workflow_and_says_which(
        tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.register(FORK)
    run = engine.start("trip", {"trip": 3})
    work_one(engine, "hold_meal", {"id": "m1"})
    clock.advance(5)
    work_one(engine, "hold_seat", {"id": "s1"})
    engine.fail(engine.poll("pay", "w")[0].id, "card declined", retryable=False)
    clock.advance(1)
    free_seat = engine.poll("free_seat", "w")
    assert len(free_seat) == 1
    engine.fail(free_seat[0].id, "seat office closed", retryable=False)
    clock.advance(1)
    failed = engine.get(run.id)
    assert failed.status == "FAILED"
    assert "card declined" in (failed.reason or "")
    assert "compensation of seat failed: seat office closed" in (failed.reason or "")
    assert engine.poll("free_meal", "w") == []  # it stops there: a person must look


# A branch still running when the other one fails: compensation waits for it to finish, then
# undoes it too. A WAIT in progress (nobody works on it) is cancelled, not waited for.
RACE: dict[str, Any] = {
    "name": "race",
    "tasks": [
        {"ref": "fork", "type": "FORK_JOIN", "branches": [
            [{"ref": "slow", "name": "slow", "input": {},
              "compensation": {"name": "undo_slow", "input": {"id": "${slow.output.id}"}}}],
            [{"ref": "hold", "type": "WAIT"}],
            [{"ref": "quick", "name": "quick", "input": {}, "retry": {"max_attempts": 1}}]]},
        {"ref": "join", "type": "JOIN"},
    ],
}


def test_compensation_waits_for_a_running_step_and_cancels_a_pending_wait(
        tmp_path: Path) -> None:
    engine, clock = make_engine(tmp_path)
    engine.register(RACE)
    run = engine.start("race", {})
    slow = engine.poll("slow", "w")[0]  # leased: in progress
    engine.fail(engine.poll("quick", "w")[0].id, "broken", retryable=False)
    assert engine.get(run.id).status == "COMPENSATING"
    tasks = {t.ref: t.status for t in engine.tasks(run.id) if t.kind == "forward"}
    assert tasks["hold"] == "CANCELED"  # nobody would ever finish it
    clock.advance(1)
    assert engine.poll("undo_slow", "w") == []  # not before "slow" has finished
    assert engine.get(run.id).status == "COMPENSATING"
    engine.complete(slow.id, {"id": "x7"})
    clock.advance(1)
    undo = engine.poll("undo_slow", "w")
    assert [t.input for t in undo] == [{"id": "x7"}]
    engine.complete(undo[0].id, {})
    assert engine.get(run.id).status == "FAILED"

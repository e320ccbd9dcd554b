"""Definitions: parsed from JSON/YAML, every problem reported at once, wiring checked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.flow import DefinitionError
from bazaar.flow.orchestrator import RetryPolicy, load_text, parse_definition
from bazaar.flow.orchestrator.wiring import parse_path, resolve

GOOD: dict[str, Any] = {
    "name": "checkout",
    "version": 2,
    "tasks": [
        {"ref": "reserve", "name": "reserve", "input": {"order": "${workflow.input.order}"},
         "compensation": {"name": "release", "input": {"r": "${reserve.output.id}"}}},
        {"ref": "route", "type": "SWITCH", "expression": "${reserve.output.kind}",
         "cases": {"big": [{"ref": "big", "name": "big"}]},
         "default": [{"ref": "small", "name": "small"}]},
        {"ref": "fork", "type": "FORK_JOIN",
         "branches": [[{"ref": "a", "name": "a"}], [{"ref": "b", "name": "b"}]]},
        {"ref": "join", "type": "JOIN"},
        {"ref": "wait", "type": "WAIT", "duration_s": 1},
        {"ref": "hook", "type": "HTTP", "request": {"url": "http://x/${reserve.output.id}"}},
        {"ref": "stop", "type": "TERMINATE", "status": "COMPLETED", "output": {"ok": True}},
    ],
    "output": {"id": "${reserve.output.id}"},
}


def test_a_good_definition_parses_from_json_and_yaml() -> None:
    from_json = parse_definition(json.dumps(GOOD))
    import yaml

    from_yaml = parse_definition(yaml.safe_dump(GOOD))
    assert from_json.to_dict() == from_yaml.to_dict()
    assert from_json.version == 2
    assert [t.ref for t in from_json.all_tasks()] == [
        "reserve", "route", "big", "small", "fork", "a", "b", "join", "wait", "hook", "stop"]
    assert from_json.task("join").join_on == ("a", "b")  # defaults to each branch's last task
    assert from_json.task("reserve").queue == "reserve"


def test_every_problem_is_reported_at_once() -> None:
    bad = {
        "name": "x y",
        "tasks": [
            {"ref": "a", "name": "a", "input": {"v": "${later.output.v}"}},
            {"ref": "a", "name": "b"},
            {"ref": "s", "type": "SWITCH"},
            {"ref": "f", "type": "FORK_JOIN", "branches": [[{"ref": "c", "name": "c"}]]},
            {"ref": "n", "type": "NOPE"},
            {"ref": "later", "name": "later", "retry": {"max_attempts": 0}},
        ],
    }
    with pytest.raises(DefinitionError) as info:
        parse_definition(bad)
    text = " | ".join(info.value.problems)
    for expected in ("name must be", "not an earlier task", "used twice", "SWITCH needs",
                     "must be followed by a JOIN", "type must be one of", "max_attempts"):
        assert expected in text, expected


@pytest.mark.parametrize("broken", [
    "not: [valid", "[1, 2]", "{}", '{"name": "x", "tasks": []}',
    '{"name": "x", "tasks": [{"ref": "j", "type": "JOIN"}]}',
    '{"name": "x", "tasks": [{"ref": "a", "name": "a", "input": {"v": "${a.nothing}"}}]}',
    '{"name": "x", "tasks": [{"ref": "a", "name": "a", "surprise": 1}]}',
    '{"name": "x", "tasks": [{"ref": "w", "type": "WAIT", "compensation": {"name": "u"}}]}',
])
def test_broken_definitions_are_refused_with_a_typed_error(broken: str) -> None:
    with pytest.raises(DefinitionError):
        parse_definition(broken)


def test_sub_workflow_targets_must_exist() -> None:
    raw = {"name": "p", "tasks": [{"ref": "c", "type": "SUB_WORKFLOW",
                                   "workflow": {"name": "child"}}]}
    with pytest.raises(DefinitionError, match="no registered workflow"):
        parse_definition(raw, known_workflow=lambda name, version: False)
    assert parse_definition(raw, known_workflow=lambda name, version: name == "child")


def test_load_text_refuses_non_objects() -> None:
    with pytest.raises(DefinitionError):
        load_text("- a\n- b\n")


def test_wiring_resolves_paths_and_interpolates() -> None:
    ctx = {"workflow": {"input": {"items": [{"sku": "A"}, {"sku": "B"}]}},
           "pay": {"input": {}, "output": {"id": "p1", "amount": 5}}}
    assert resolve("${workflow.input.items[1].sku}", ctx) == "B"
    assert resolve({"a": ["${pay.output.amount}"]}, ctx) == {"a": [5]}
    assert resolve("charge ${pay.output.id}/${missing.output.x}", ctx) == "charge p1/"
    assert resolve("${pay.output.nope}", ctx) is None
    assert parse_path("a.b[2].c") == ["a", "b", 2, "c"]
    for bad in ("a..b", "", "[0]", "a b"):
        with pytest.raises(ValueError):
            parse_path(bad)


@given(attempt=st.integers(1, 200), delay=st.floats(0, 10), cap=st.floats(0, 100),
       backoff=st.sampled_from(["fixed", "exponential", "jittered"]))
def test_backoff_never_exceeds_its_cap(attempt: int, delay: float, cap: float,
                                       backoff: str) -> None:
    policy = RetryPolicy(max_attempts=None, backoff=backoff,  # type: ignore[arg-type]
                         delay_s=delay, max_delay_s=cap)
    assert 0.0 <= policy.delay(attempt) <= cap


@given(attempt=st.integers(1, 30))
def test_exponential_backoff_grows_until_capped(attempt: int) -> None:
    policy = RetryPolicy(backoff="exponential", delay_s=0.1, max_delay_s=5.0)
    assert policy.delay(attempt + 1) >= policy.delay(attempt)
    assert policy.delay(1) == pytest.approx(0.1)


def test_retry_budget() -> None:
    assert RetryPolicy(max_attempts=3).allows(2)
    assert not RetryPolicy(max_attempts=3).allows(3)
    assert RetryPolicy(max_attempts=None).allows(10_000)

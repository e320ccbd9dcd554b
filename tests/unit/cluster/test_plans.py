"""The plan core alone: what a selector selects, what is protected, what refuses a plan,
and that a plan file cannot be edited into another plan."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from tests.support.planworld import MemoryLedger, MemoryWorld

from bazaar.cluster.applying import apply_plan
from bazaar.cluster.errors import NotBuilt, PlanError, PlanRefused
from bazaar.cluster.operate import load_plan, plan_path
from bazaar.cluster.plans import Plan, make_plan, refusals

NOW = 1_000_000.0


def _plan(world: MemoryWorld, op: str, *selectors: str, everything: bool = False,
          allow: bool = False, ttl: float = 60.0) -> Plan:
    return make_plan(op, list(selectors), everything, allow, world.observe(), world.config,
                     NOW, ttl, "n-1")


def test_selectors_pick_exactly_the_named_nodes_in_order() -> None:
    world = MemoryWorld.make(standbys=3, apps=4)
    plan = _plan(world, "remove-app", "app-[24]", "app-4")
    assert [t.name for t in plan.targets] == ["app-2", "app-4"]
    assert plan.lines[0].startswith("remove app server app-2 (app, pid ")
    glob = _plan(world, "remove-replica", "pg-standby-*", allow=True)
    assert [t.name for t in glob.targets] == ["pg-standby-1", "pg-standby-2", "pg-standby-3"]
    down = _plan(world, "down", everything=True, allow=True)
    assert down.targets[0].name == "lb" and down.targets[-1].name == "pg-primary"


@pytest.mark.parametrize(("op", "selectors", "everything", "message"), [
    ("remove-app", [], False, "no node selected"),
    ("remove-app", ["app-1"], True, "not both"),
    ("remove-app", ["app-9"], False, "matches no app server"),
    ("remove-app", ["pg-primary"], False, "is a primary node"),
    ("remove-replica", ["app-*"], False, "matches no replica"),
    ("down", ["app-1"], False, "say --all"),
    ("down", [], False, "no node selected"),
    ("reboot", ["app-1"], False, "unknown operation"),
    ("remove-app", ["app-1; rm -rf /"], False, "bad selector"),
    ("remove-app", ["x" * 101], False, "bad selector"),
    ("remove-app", ["app-1"] * 65, False, "at most 64"),
])
def test_bad_selections_are_errors(op: str, selectors: list[str], everything: bool,
                                   message: str) -> None:
    world = MemoryWorld.make(standbys=2, apps=2)
    with pytest.raises(PlanError, match=message):
        _plan(world, op, *selectors, everything=everything)


def test_drop_shard_says_it_is_not_built() -> None:
    with pytest.raises(NotBuilt, match="cluster reshard"):
        _plan(MemoryWorld.make(1, 1), "drop-shard", "shard-1")


def test_protected_nodes_need_allow_protected_and_are_shown_as_such() -> None:
    world = MemoryWorld.make(standbys=2, apps=2)
    assert not any(t.protected for t in _plan(world, "remove-replica", "pg-standby-1").targets)
    with pytest.raises(PlanError, match="pg-standby-1 is the last replica"):
        _plan(world, "remove-replica", "pg-standby-*")
    with pytest.raises(PlanError, match="pg-primary is the current primary"):
        _plan(world, "down", everything=True)
    allowed = _plan(world, "remove-app", everything=True, allow=True)
    assert all(line.endswith("[protected: the last app server]") for line in allowed.lines)
    # a crashed standby does not count as a replica left
    world.change("pg-standby-2", started=0)
    with pytest.raises(PlanError, match="last replica"):
        _plan(world, "remove-replica", "pg-standby-1")


def test_refusals_name_each_reason_and_ignore_untargeted_changes() -> None:
    world = MemoryWorld.make(standbys=2, apps=3)
    plan = _plan(world, "remove-app", "app-1", ttl=60)
    world.change("app-2", pid=1)  # untargeted: no reason
    world.remove("app-3")
    world.add("app", "app-9")
    assert refusals(plan, world.observe(), world.config, NOW + 1) == []
    world.change("app-1", pid=42)
    why = refusals(plan, world.observe(), "other", NOW + 61)
    assert len(why) == 3 and "expired" in why[0] and "config" in why[1]
    assert why[2].startswith("app-1 changed since the plan: pid ")
    world.remove("app-1")
    assert refusals(plan, world.observe(), world.config, NOW)[0] == "app-1 is gone since the plan"


def test_a_target_that_became_the_last_replica_is_refused() -> None:
    world = MemoryWorld.make(standbys=2, apps=1)
    first = _plan(world, "remove-replica", "pg-standby-1")
    second = _plan(world, "remove-replica", "pg-standby-2")
    ledger = MemoryLedger()
    assert apply_plan(first, world, ledger, NOW, echo=lambda _m: None).result == "applied"
    with pytest.raises(PlanRefused, match="pg-standby-2 is now the last replica"):
        apply_plan(second, world, ledger, NOW, echo=lambda _m: None)
    assert world.find("pg-standby-2") is not None


def test_apply_logs_the_plan_lines_word_for_word() -> None:
    world = MemoryWorld.make(standbys=2, apps=3)
    plan = _plan(world, "remove-app", "app-1", "app-3")
    logged: list[str] = []
    apply_plan(plan, world, MemoryLedger(), NOW, echo=logged.append)
    assert logged[1:] == [f"  {line}" for line in plan.lines]


def test_an_edited_plan_file_is_refused(tmp_path: Path) -> None:
    world = MemoryWorld.make(standbys=2, apps=3)
    plan = _plan(world, "remove-app", "app-1")
    path = plan_path(tmp_path, plan.id)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(plan.to_json()))
    assert load_plan(tmp_path, plan.id) == plan
    edited = plan.to_json()
    edited["targets"][0]["name"] = "app-2"
    path.write_text(json.dumps(edited))
    with pytest.raises(PlanError, match="edited"):
        load_plan(tmp_path, plan.id)
    for garbage in (b"\x00\xff", b"[]", b'{"id": 1}', b"{" * 10):
        path.write_bytes(garbage)
        with pytest.raises(PlanError, match="not a plan file"):
            load_plan(tmp_path, plan.id)
    for bad_id in ("../../etc/passwd", "p-123", "", "p-" + "g" * 16):
        with pytest.raises(PlanError, match="not a plan id"):
            load_plan(tmp_path, bad_id)
    with pytest.raises(PlanError, match="no plan"):
        load_plan(tmp_path, "p-" + "0" * 16)


def test_the_same_request_twice_is_two_plans_each_bound_to_its_nonce() -> None:
    world = MemoryWorld.make(standbys=1, apps=2)
    a, b = (make_plan("remove-app", ["app-1"], False, False, world.observe(), world.config,
                      NOW, 60, nonce) for nonce in ("n-1", "n-2"))
    assert a.id != b.id and a.targets == b.targets
    with pytest.raises(PlanError, match="edited"):
        Plan.from_json(replace(a, nonce="n-2").to_json())

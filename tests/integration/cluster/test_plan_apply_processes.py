"""Plan → apply on real processes: a cluster directory whose app servers are real processes
(each in its own data directory, recorded in ``state.json`` with pid and start time), so a
trial costs milliseconds, not an app server start. Restarts between plan and apply are real
(the process killed, a new one recorded in its place, as a supervisor would); the verdicts
come from /proc and the file system, the outcomes from which processes still run."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.cluster import cli

from bazaar import cluster
from bazaar.cluster import ClusterSpec, ClusterState, Node, alive, operate, plans
from bazaar.cluster.state import start_time
from bazaar.config import Settings
from bazaar.processes import Child

TRIALS = 30


class Fleet:
    """``app-1…`` as ``sleep`` processes under ``data/cluster``."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.directory = data / "cluster"
        self.children: list[Child] = []
        self.state = ClusterState(ClusterSpec("cluster", 4), "http://127.0.0.1:1", id="t-1")
        self.count = 0

    def spawn(self, name: str) -> Node:
        home = self.directory / name
        home.mkdir(parents=True, exist_ok=True)
        child = Child(["sleep", "600"], name=name, cwd=home).spawn()
        self.children.append(child)
        started = start_time(child.pid)
        assert started is not None
        return Node(name, "app", child.pid, "127.0.0.1", 10_000 + child.pid % 1000,
                    str(home / "log"), started, str(home))

    def add(self) -> Node:
        self.count += 1
        node = self.spawn(f"app-{self.count}")
        self.reload()
        self.state.nodes.append(node)
        self.state.save(self.directory)
        return node

    def reload(self) -> None:
        state = ClusterState.load(self.directory)
        if state is not None:
            self.state = state

    def restart(self, name: str) -> None:
        """Kill ``name``'s process and record a new one in its place."""
        self.reload()
        i = next(i for i, n in enumerate(self.state.nodes) if n.name == name)
        old = self.state.nodes[i]
        if alive(old):
            os.kill(old.pid, signal.SIGKILL)
        self.state.nodes[i] = self.spawn(name)
        self.state.save(self.directory)

    def running(self) -> set[str]:
        self.reload()
        return {n.name for n in self.state.nodes if alive(n)}

    def stop(self) -> None:
        for child in self.children:
            child.kill()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(tmp_path / "data")
    for _ in range(4):
        f.add()
    yield f
    f.stop()


def _settings(fleet: Fleet) -> Settings:
    return Settings(data_dir=fleet.data)


def test_plan_then_apply_on_the_command_line(fleet: Fleet) -> None:
    shown = cli(fleet.data, "plan", "remove-app", "app-2", "app-4")
    first = shown.stdout.splitlines()[0]
    plan_id = first.split()[1].rstrip(":")
    assert first.startswith(f"plan {plan_id}: remove-app app-2 app-4 — 2 node(s)")
    lines = [line.strip() for line in shown.stdout.splitlines()[1:3]]
    assert [line.split()[3] for line in lines] == ["app-2", "app-4"]
    applied = cli(fleet.data, "apply", plan_id)
    logged = [line.strip() for line in applied.stdout.splitlines()[1:3]]
    assert logged == lines  # the same words
    assert fleet.running() == {"app-1", "app-3"}
    assert not (fleet.directory / "app-2").exists()
    again = cli(fleet.data, "apply", plan_id, "--json", check=False)
    assert again.returncode == 4 and "already applied" in json.loads(again.stdout)["reasons"][0]
    assert fleet.running() == {"app-1", "app-3"}
    for args, message in ((["plan", "remove-app"], "no node selected"),
                          (["plan", "down"], "no node selected"),
                          (["plan", "remove-app", "--all"], "last app server"),
                          (["plan", "drop-shard", "s1"], "not built"),
                          (["apply", "p-0000000000000000"], "no plan"),
                          (["apply", "../state"], "not a plan id")):
        run = cli(fleet.data, *args, check=False)
        assert run.returncode == 1 and message in run.stderr, (args, run.stderr)
    assert fleet.running() == {"app-1", "app-3"}


def test_a_restarted_target_refuses_an_untargeted_one_does_not(fleet: Fleet) -> None:
    settings = _settings(fleet)
    stale = cluster.plan(settings, "remove-app", ["app-1"])
    fine = cluster.plan(settings, "remove-app", ["app-3"])
    fleet.restart("app-1")  # targeted by `stale`, untargeted by `fine`
    with pytest.raises(cluster.PlanRefused, match="app-1 changed since the plan: pid"):
        cluster.apply(settings, stale.id, echo=lambda _m: None)
    assert fleet.running() == {"app-1", "app-2", "app-3", "app-4"}
    assert cluster.apply(settings, fine.id, echo=lambda _m: None)[1].done == ["app-3"]
    assert fleet.running() == {"app-1", "app-2", "app-4"}
    # a replaced data directory (moved away, a new one made) is a changed target
    moved = cluster.plan(settings, "remove-app", ["app-2"])
    shutil.move(fleet.directory / "app-2", fleet.directory / "app-2.old")
    (fleet.directory / "app-2").mkdir()
    with pytest.raises(cluster.PlanRefused, match="data_id"):
        cluster.apply(settings, moved.id, echo=lambda _m: None)
    assert "app-2" in fleet.running()


def test_the_set_is_computed_once_and_apply_never_selects(
        fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    real_select = plans.select

    def counting(op: str, selectors: list[str], everything: bool, nodes: list[plans.Observed]
                 ) -> list[plans.Observed]:
        calls.append(tuple(selectors))
        return real_select(op, selectors, everything, nodes)

    monkeypatch.setattr(plans, "select", counting)
    settings = _settings(fleet)
    made = cluster.plan(settings, "remove-app", ["app-*"], allow_protected=True)
    assert calls == [("app-*",)]
    fleet.add()  # app-5 matches the glob now; the plan never saw it
    _, outcome = cluster.apply(settings, made.id, echo=lambda _m: None)
    assert calls == [("app-*",)]  # apply resolved no selector
    assert outcome.done == ["app-1", "app-2", "app-3", "app-4"]
    assert fleet.running() == {"app-5"}

    # the `down` shortcut: one plan value, shown and applied — the same object
    made_plans: list[plans.Plan] = []
    applied: list[plans.Plan] = []
    real_make, real_apply = operate.make_plan, operate.apply_plan

    def make(*args: object, **kw: object) -> plans.Plan:
        made_plans.append(real_make(*args, **kw))  # type: ignore[arg-type]
        return made_plans[-1]

    def apply_(p: plans.Plan, *args: object, **kw: object) -> object:
        applied.append(p)
        return real_apply(p, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(operate, "make_plan", make)
    monkeypatch.setattr(operate, "apply_plan", apply_)
    shown: list[str] = []
    plan, outcome = cluster.down(settings, echo=shown.append)
    assert len(made_plans) == 1 and applied[0] is made_plans[0] is plan
    assert calls == [("app-*",), ()]
    assert shown[2:] == [f"  {line}" for line in plan.lines]
    assert outcome.done == ["app-5"] and fleet.running() == set()
    assert not (fleet.directory / "state.json").exists()


def test_random_trials_against_real_processes(fleet: Fleet) -> None:
    """Plan a random subset, restart random nodes, apply: the processes stopped are exactly
    the planned ones when none of them was restarted, none otherwise."""
    rng = random.Random(13)
    settings = _settings(fleet)
    verdicts = {"applied": 0, "refused": 0}
    for _ in range(TRIALS):
        while len(fleet.running()) < 3:
            fleet.add()
        names = sorted(fleet.running())
        targets = rng.sample(names, rng.randint(1, len(names) - 1))
        made = cluster.plan(settings, "remove-app", targets)
        restarted = set(rng.sample(names, rng.choice([0, 0, 1, 2])))
        for name in restarted:
            fleet.restart(name)
        before = fleet.running()
        pids_before = {n.name: n.pid for n in fleet.state.nodes}
        try:
            cluster.apply(settings, made.id, echo=lambda _m: None)
        except cluster.PlanRefused:
            assert restarted & set(targets), (restarted, targets)  # never a false stale
            assert fleet.running() == before
            assert {n.name: n.pid for n in fleet.state.nodes} == pids_before
            verdicts["refused"] += 1
        else:
            assert not restarted & set(targets)
            assert fleet.running() == before - set(targets)
            verdicts["applied"] += 1
    assert verdicts["applied"] and verdicts["refused"], verdicts

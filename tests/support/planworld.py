"""A fast in-memory cluster for plan → apply trials: it implements the real ports
(:class:`~bazaar.cluster.applying.World`, ``Ledger``) and logs every action it is asked to
do with the fingerprint the node had *when it was acted on* — so a wrong apply (a node not
planned, or one that changed) and a double apply are visible in the log, not assumed."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from bazaar.cluster.applying import Outcome
from bazaar.cluster.plans import Fingerprint, Observed, Plan, Target


@dataclass(frozen=True)
class Action:
    plan_id: str
    name: str
    fingerprint: Fingerprint


@dataclass
class MemoryWorld:
    nodes: list[Observed]
    config: str = "config-1"
    log: list[Action] = field(default_factory=list)
    #: Called with the target's index right before each act (a mutation during the apply).
    before_act: Callable[[int], None] | None = None
    _plan: str = ""
    _index: int = 0
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(10_000))

    @classmethod
    def make(cls, standbys: int, apps: int, first_id: int = 10_000) -> MemoryWorld:
        """A primary, ``standbys``, a cache, ``apps``, a balancer; pids, start times and
        data ids counted from ``first_id`` (a new cluster: give it ids the old never had)."""
        world = cls([], _counter=itertools.count(first_id))
        world.add("primary", "pg-primary")
        for i in range(1, standbys + 1):
            world.add("standby", f"pg-standby-{i}")
        world.add("cache", "redis")
        for i in range(1, apps + 1):
            world.add("app", f"app-{i}")
        world.add("lb", "lb")
        return world

    def fresh(self) -> int:
        return next(self._counter)

    def add(self, role: str, name: str) -> None:
        n = self.fresh()
        self.nodes.append(Observed(name, Fingerprint(role, n, n * 7, f"8:{n}"),
                                   f"127.0.0.1:{n}"))

    def find(self, name: str) -> Observed | None:
        return next((n for n in self.nodes if n.name == name), None)

    def change(self, name: str, **fields: object) -> bool:
        """Replace fields of ``name``'s fingerprint; whether that changed it (False if there
        is no such node, or it already had those values: a crashed node crashing again)."""
        for i, n in enumerate(self.nodes):
            if n.name == name:
                self.nodes[i] = replace(n, fingerprint=replace(n.fingerprint, **fields))
                return self.nodes[i] != n
        return False

    def remove(self, name: str) -> None:
        self.nodes = [n for n in self.nodes if n.name != name]

    # --- the World port ---
    def observe(self) -> Sequence[Observed]:
        return list(self.nodes)

    def config_hash(self) -> str:
        return self.config

    def unchanged(self, target: Target) -> bool:
        if self.before_act is not None:
            self.before_act(self._index)
        self._index += 1
        node = self.find(target.name)
        return node is not None and node.fingerprint == target.fingerprint

    def act(self, op: str, target: Target) -> None:
        node = self.find(target.name)
        assert node is not None, f"asked to act on {target.name}, which does not exist"
        self.log.append(Action(self._plan, node.name, node.fingerprint))
        self.remove(node.name)

    def finish(self, plan: Plan, done: Sequence[str]) -> None:
        self.before_act = None

    def applying(self, plan: Plan) -> None:
        """Tag the actions that follow with ``plan``'s id (the log's double-apply check)."""
        self._plan = plan.id
        self._index = 0


@dataclass
class MemoryLedger:
    claimed: dict[str, str] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)

    def claim(self, plan: Plan, now: float) -> str:
        if plan.id in self.claimed:
            return f"plan {plan.id} was already applied"
        self.claimed[plan.id] = "applying"
        return ""

    def record(self, outcome: Outcome) -> None:
        self.claimed[outcome.plan_id] = outcome.result
        self.outcomes.append(outcome)

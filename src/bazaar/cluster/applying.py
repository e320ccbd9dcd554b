"""Applying a plan: exactly its targets, at most once, only if none of them changed.

Order: claim the plan's one-shot entry in the ledger (an exclusive create: a second apply,
even a concurrent one, finds it taken), observe the cluster, refuse with every reason if
:func:`~bazaar.cluster.plans.refusals` finds one, otherwise act on ``plan.targets`` in order
— each re-checked just before it is acted on (a process that crashed and whose pid was
reused in between is left alone, and the apply reports itself partial). The lines logged
are ``plan.lines``: the strings the plan showed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bazaar.cluster.errors import PlanRefused
from bazaar.cluster.plans import Observed, Plan, Target, refusals

Echo = Callable[[str], None]


class World(Protocol):
    """The cluster a plan acts on (the real one, or the tests' in-memory model)."""

    def observe(self) -> Sequence[Observed]: ...

    def config_hash(self) -> str: ...

    def unchanged(self, target: Target) -> bool:
        """Whether ``target`` is still the node planned (checked right before acting)."""
        ...

    def act(self, op: str, target: Target) -> None:
        """Do ``op`` to ``target`` (stop it, remove it from the cluster)."""
        ...

    def finish(self, plan: Plan, done: Sequence[str]) -> None:
        """After the targets: whatever the operation does once (``down``: the sweep)."""
        ...


class Ledger(Protocol):
    """One-shot entries: a plan may be claimed once, ever."""

    def claim(self, plan: Plan, now: float) -> str:
        """Take the plan's entry; "" if taken now, else why not (when it was taken)."""
        ...

    def record(self, outcome: Outcome) -> None: ...


@dataclass
class Outcome:
    plan_id: str
    #: applied (every target), partial (some changed during the apply), refused (none)
    result: str
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def apply_plan(plan: Plan, world: World, ledger: Ledger, now: float,
               echo: Echo = print) -> Outcome:
    """Act on ``plan``; :class:`PlanRefused` (nothing changed) if it may not run."""
    spent = ledger.claim(plan, now)
    if spent:
        raise PlanRefused(plan.id, [spent])
    why = refusals(plan, world.observe(), world.config_hash(), now)
    if why:
        ledger.record(Outcome(plan.id, "refused", reasons=why))
        raise PlanRefused(plan.id, why)
    outcome = Outcome(plan.id, "applied")
    echo(f"applying plan {plan.id} ({plan.op}, {len(plan.targets)} node(s))")
    try:
        for target, line in zip(plan.targets, plan.lines, strict=True):
            echo(f"  {line}")
            if not world.unchanged(target):
                echo(f"    {target.name} changed just now: left alone")
                outcome.skipped.append(target.name)
                outcome.result = "partial"
                continue
            world.act(plan.op, target)
            outcome.done.append(target.name)
        world.finish(plan, outcome.done)
    except BaseException as exc:
        # the entry stays spent: what ran is recorded, nothing runs a second time
        outcome.result = "failed"
        outcome.reasons.append(f"{type(exc).__name__}: {exc}")
        ledger.record(outcome)
        raise
    ledger.record(outcome)
    return outcome

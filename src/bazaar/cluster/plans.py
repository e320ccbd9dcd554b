"""Plans for destructive cluster operations: the exact set of nodes an operation will act
on, computed **once** from what was observed, and bound to that observation.

The outage story ("Handling a large-scale outage"): a confirmation dialog listed the nodes
to terminate, and the code behind it terminated everything — the list shown and the list
acted on were two computations. Here there is one: :func:`make_plan` resolves the selectors
into :attr:`Plan.targets`, each with the line it is shown as; ``apply`` acts on those targets
and logs those lines, and never resolves a selector again.

Each target carries the fingerprint observed at plan time (role, pid, process start time,
data-directory id). A plan also binds a hash of the cluster's config, an expiry and a
one-shot nonce; its id is a digest of all of it, so an edited plan file is refused.

Pure: observations in, plans and verdicts out; no processes, no files (``applying.py`` and
``operate.py`` are the shells).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bazaar.cluster.errors import NotBuilt, PlanError

#: Each operation and the roles it may act on (None: every role).
OPERATIONS: dict[str, tuple[str, ...] | None] = {
    "remove-app": ("app",),
    "remove-replica": ("standby",),
    "down": None,
}
#: Operations the issue names that are not built yet.
PLANNED_OPERATIONS = ("drop-shard",)
#: What a target's line says is done to it, by role.
VERBS = {"app": "remove app server", "standby": "remove replica", "primary": "stop primary",
         "lb": "stop balancer", "cache": "stop cache", "inventory": "stop inventory server",
         "shard": "stop shard server"}
MAX_SELECTORS = 64
_SELECTOR = re.compile(r"^[A-Za-z0-9_.\-*?\[\]]{1,100}$")
PLAN_ID = re.compile(r"^p-[0-9a-f]{16}$")
MIN_TTL_S, MAX_TTL_S = 1, 86_400


@dataclass(frozen=True)
class Fingerprint:
    """A node as observed: a changed field means it is not the node that was planned."""

    #: The live role (a PostgreSQL node's is asked of the server: a promoted standby is a
    #: primary).
    role: str
    pid: int
    #: Process start time in clock ticks since boot; 0 when the process is not running.
    started: int
    #: ``device:inode`` of the data directory ("missing" when there is none).
    data_id: str


@dataclass(frozen=True)
class Observed:
    """One node as the cluster shows it now."""

    name: str
    fingerprint: Fingerprint
    address: str = ""

    @property
    def running(self) -> bool:
        return self.fingerprint.started != 0


@dataclass(frozen=True)
class Target:
    """One node a plan acts on, and the line it is shown and logged as."""

    name: str
    fingerprint: Fingerprint
    line: str
    #: Why it is protected ("the current primary", "the last replica"), "" if it is not.
    protected: str = ""


@dataclass(frozen=True)
class Plan:
    id: str
    op: str
    selectors: tuple[str, ...]
    all: bool
    allow_protected: bool
    config_hash: str
    created: float
    expires: float
    nonce: str
    targets: tuple[Target, ...] = field(default_factory=tuple)

    @property
    def lines(self) -> list[str]:
        """What is shown at plan time and logged at apply time: the same strings."""
        return [t.line + (f"  [protected: {t.protected}]" if t.protected else "")
                for t in self.targets]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        """The plan in ``data``; :class:`PlanError` if it is malformed or was edited."""
        try:
            targets = tuple(Target(t["name"], Fingerprint(**t["fingerprint"]), t["line"],
                                   t["protected"]) for t in data["targets"])
            plan = cls(str(data["id"]), str(data["op"]), tuple(data["selectors"]),
                       bool(data["all"]), bool(data["allow_protected"]),
                       str(data["config_hash"]), float(data["created"]),
                       float(data["expires"]), str(data["nonce"]), targets)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"not a plan file: {exc!r}") from exc
        if digest(plan) != plan.id:
            raise PlanError(f"plan {plan.id} does not match its content (the file was "
                            "edited); make a new plan")
        return plan


def digest(plan: Plan) -> str:
    """The plan's id: a hash of everything in it but the id."""
    body = {k: v for k, v in plan.to_json().items() if k != "id"}
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return "p-" + hashlib.sha256(raw).hexdigest()[:16]


def describe(node: Observed) -> str:
    fp = node.fingerprint
    verb = VERBS.get(fp.role, "stop")
    pid = f"pid {fp.pid}" if fp.started else f"pid {fp.pid}, not running"
    return f"{verb} {node.name} ({fp.role}, {pid}, {node.address or 'no address'})"


def _check_selectors(op: str, selectors: Sequence[str], everything: bool) -> None:
    if op in PLANNED_OPERATIONS:
        raise NotBuilt(f"{op!r} is not built yet: a shard server is emptied by moving its "
                       "logical shards off it (`bazaar cluster reshard N --to SERVER`), "
                       "see docs/scaling.md")
    if op not in OPERATIONS:
        raise PlanError(f"unknown operation {op!r}: one of {', '.join(OPERATIONS)}")
    if everything and selectors:
        raise PlanError("give node names or --all, not both")
    if not everything and not selectors:
        raise PlanError(f"{op}: no node selected; name the nodes (globs such as app-* "
                        "allowed), or say --all for every one")
    if op == "down" and not everything:
        raise PlanError("down stops the whole cluster: say --all (remove some nodes with "
                        "remove-app or remove-replica)")
    if len(selectors) > MAX_SELECTORS:
        raise PlanError(f"at most {MAX_SELECTORS} selectors, got {len(selectors)}")
    for s in selectors:
        if not _SELECTOR.match(s):
            raise PlanError(f"bad selector {s[:40]!r}: node names and globs of letters, "
                            "digits, '-', '_', '.', '*', '?', '[]', at most 100 characters")


def select(op: str, selectors: Sequence[str], everything: bool,
           nodes: Sequence[Observed]) -> list[Observed]:
    """The nodes ``op`` acts on, in the order it acts (``down``: the reverse of the start
    order, balancer first, primary last). :class:`PlanError` for a selector that matches
    nothing or names a node the operation does not act on."""
    _check_selectors(op, selectors, everything)
    roles = OPERATIONS[op]
    eligible = [n for n in nodes if roles is None or n.fingerprint.role in roles]
    what = "node" if roles is None else VERBS[roles[0]].split(" ", 1)[1]
    if everything:
        chosen = eligible
        if not chosen:
            raise PlanError(f"{op} --all: there is no {what}")
    else:
        names: set[str] = set()
        for s in selectors:
            hits = [n.name for n in eligible if fnmatch.fnmatchcase(n.name, s)]
            if not hits:
                other = [n for n in nodes if n.name == s]
                if other:
                    raise PlanError(f"{s} is a {other[0].fingerprint.role} node; {op} acts "
                                    f"on {what}s only")
                raise PlanError(f"{s!r} matches no {what} (there are: "
                                f"{', '.join(n.name for n in eligible) or 'none'})")
            names.update(hits)
        chosen = [n for n in eligible if n.name in names]
    return list(reversed(chosen)) if op == "down" else chosen


def protection(target: str, role: str, targeted: set[str], nodes: Sequence[Observed]) -> str:
    """Why removing ``target`` (with everything in ``targeted``) needs ``--allow-protected``,
    "" if it does not: the current primary, the last running replica, the last running app
    server."""
    if role == "primary":
        return "the current primary"
    last = {"standby": "the last replica", "app": "the last app server"}
    if role in last and not any(n.fingerprint.role == role and n.running
                                and n.name not in targeted for n in nodes):
        return last[role]
    return ""


def make_plan(op: str, selectors: Sequence[str], everything: bool, allow_protected: bool,
              nodes: Sequence[Observed], config_hash: str, now: float, ttl_s: float,
              nonce: str) -> Plan:
    """The plan: the selected nodes, each with its fingerprint and its line, computed here
    once. :class:`PlanError` if a protected node is selected without ``allow_protected``."""
    if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
        raise PlanError(f"--ttl must be {MIN_TTL_S}..{MAX_TTL_S} s, got {ttl_s:g}")
    chosen = select(op, selectors, everything, nodes)
    targeted = {n.name for n in chosen}
    targets = tuple(Target(n.name, n.fingerprint, describe(n),
                           protection(n.name, n.fingerprint.role, targeted, nodes))
                    for n in chosen)
    guarded = [t for t in targets if t.protected]
    if guarded and not allow_protected:
        raise PlanError("protected: " + "; ".join(f"{t.name} is {t.protected}"
                                                  for t in guarded)
                        + " — plan again with --allow-protected to include it")
    draft = Plan("", op, tuple(selectors), everything, allow_protected, config_hash, now,
                 now + ttl_s, nonce, targets)
    return Plan(digest(draft), op, tuple(selectors), everything, allow_protected,
                config_hash, now, now + ttl_s, nonce, targets)


def refusals(plan: Plan, nodes: Sequence[Observed], config_hash: str, now: float) -> list[str]:
    """Why ``plan`` must not run against the cluster as observed now; [] if it may. Only
    the plan's own targets are compared: a change to any other node is no reason."""
    why = []
    if now >= plan.expires:
        why.append(f"the plan expired {now - plan.expires:.0f} s ago; make a new plan")
    if config_hash != plan.config_hash:
        why.append("the cluster's config changed since the plan (another cluster runs "
                   "here, or it was started again)")
    by_name = {n.name: n for n in nodes}
    targeted = {t.name for t in plan.targets}
    for t in plan.targets:
        now_node = by_name.get(t.name)
        if now_node is None:
            why.append(f"{t.name} is gone since the plan")
        elif now_node.fingerprint != t.fingerprint:
            why.append(f"{t.name} changed since the plan: {_diff(t.fingerprint, now_node)}")
        elif not t.protected and not plan.allow_protected:
            # other nodes went away since the plan: this one would now be the last
            became = protection(t.name, t.fingerprint.role, targeted, nodes)
            if became:
                why.append(f"{t.name} is now {became}; plan again with --allow-protected")
    return why


def _diff(planned: Fingerprint, node: Observed) -> str:
    now = node.fingerprint
    pairs = (("role", planned.role, now.role), ("pid", planned.pid, now.pid),
             ("started", planned.started, now.started),
             ("data_id", planned.data_id, now.data_id))
    parts = [f"{k} {a} → {b}" for k, a, b in pairs if a != b]
    return ", ".join(parts)

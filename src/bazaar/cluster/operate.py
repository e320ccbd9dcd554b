"""The shell around plans: the real cluster as a :class:`~bazaar.cluster.applying.World`,
plan files and the one-shot ledger under ``DATA_DIR/cluster/plans/``, and the three
commands — ``plan``, ``apply`` and ``down`` (which makes the ``down --all`` plan, shows it,
and applies that same value at once).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import psycopg

from bazaar.cluster import lifecycle, nginx, postgres
from bazaar.cluster.applying import Outcome, apply_plan
from bazaar.cluster.errors import ClusterError, NoCluster, PlanError
from bazaar.cluster.nodes import stop_pid
from bazaar.cluster.plans import PLAN_ID, Fingerprint, Observed, Plan, Target, make_plan
from bazaar.cluster.state import ClusterState, Node, alive, processes_under
from bazaar.config import Settings
from bazaar.processes import DirLocked, NotYet, eventually

Echo = Callable[[str], None]
PLANS = "plans"
DEFAULT_TTL_S = 900.0


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    try:
        with lifecycle.lock(directory):
            yield
    except DirLocked as exc:
        raise ClusterError(f"another cluster command is running here (pid {exc.pid}); "
                           "try again when it is done") from exc


def _data_id(path: str) -> str:
    if not path:
        return "missing"
    try:
        st = Path(path).resolve().stat()
    except OSError:
        return "missing"
    return f"{st.st_dev}:{st.st_ino}"


def _live_role(node: Node) -> str:
    """A running PostgreSQL node's role as the server says it (a promoted standby is a
    primary); otherwise the recorded one."""
    if node.role not in ("primary", "standby"):
        return node.role
    with contextlib.suppress(psycopg.Error), psycopg.connect(
            postgres.dsn(node.port, "postgres"), connect_timeout=3) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if row is not None:
            return "standby" if row[0] else "primary"
    return node.role


def fingerprint(node: Node) -> Fingerprint:
    running = alive(node)
    return Fingerprint(_live_role(node) if running else node.role, node.pid,
                       node.started if running else 0, _data_id(node.data))


def observe(state: ClusterState) -> list[Observed]:
    return [Observed(n.name, fingerprint(n), n.address) for n in state.nodes]


def config_hash(state: ClusterState, directory: Path) -> str:
    raw = json.dumps({"id": state.id, "spec": asdict(state.spec), "entry": state.entry,
                      "directory": str(directory)}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


class LocalCluster:
    """The cluster under ``directory`` (its ``state.json`` and its processes); the caller
    holds the cluster lock, so only this object writes the state meanwhile."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        state = ClusterState.load(directory)
        if state is None:
            raise NoCluster(f"no cluster under {directory}")
        self.state = state

    def observe(self) -> Sequence[Observed]:
        return observe(self.state)

    def config_hash(self) -> str:
        return config_hash(self.state, self.directory)

    def _node(self, name: str) -> Node | None:
        return next((n for n in self.state.nodes if n.name == name), None)

    def unchanged(self, target: Target) -> bool:
        node = self._node(target.name)
        return node is not None and fingerprint(node) == target.fingerprint

    def act(self, op: str, target: Target) -> None:
        node = self._node(target.name)
        assert node is not None  # unchanged() said so, under the lock
        if op == "down":
            if alive(node):
                lifecycle.stop_node(node)
            return
        if node.role == "app":
            self._remove_app(node)
        elif node.role == "standby":
            self._remove_standby(node)
        else:  # select() lets through nothing else
            raise PlanError(f"{op} cannot act on {node.name} ({node.role})")
        self.state.without(node.name)
        self.state.save(self.directory)

    def _remove_app(self, node: Node) -> None:
        lbs = [n for n in self.state.by_role("lb") if alive(n)]
        others = [n for n in self.state.by_role("app") if n.name != node.name]
        if lbs and others:  # out of rotation first, so no new request reaches it
            nginx.remove_upstream(lbs[0], node.host, node.port)
        stop_pid(node, grace=30)
        shutil.rmtree(node.data, ignore_errors=True)

    def _remove_standby(self, node: Node) -> None:
        primaries = [n for n in self.state.by_role("primary") if alive(n)]
        if primaries and self.state.spec.replication != "async":
            # commits must stop waiting for it first (FIRST 2 with one gone blocks forever)
            rest = [n for n in self.state.by_role("standby") if n.name != node.name]
            postgres.set_replication(primaries[0], self.state.spec.replication,
                                     postgres.standby_names(rest))
        if alive(node):
            postgres.stop(node)
        stop_pid(node, grace=10)
        if primaries:
            _drop_slot(primaries[0], node.name.replace("-", "_"))
        postgres.remove_node_dir(self.directory / node.name)

    def finish(self, plan: Plan, done: Sequence[str]) -> None:
        if plan.op != "down":
            return
        stopped = [n for n in self.state.nodes if n.name in set(done)]
        leftovers = [pid for root in sorted({Path(n.data).resolve() for n in stopped
                                             if n.data})
                     for pid in processes_under(root)]
        lifecycle.kill_pids(leftovers, stopped)
        still = [n.name for n in stopped if alive(n)]
        if still:
            raise ClusterError(f"could not stop: {', '.join(still)}")
        lifecycle.remove_data(self.directory, ClusterState(self.state.spec, nodes=stopped))
        for name in done:
            self.state.without(name)
        if self.state.nodes:  # nodes the plan did not name stay recorded
            self.state.save(self.directory)
        else:
            (self.directory / "state.json").unlink(missing_ok=True)


def _drop_slot(primary: Node, slot: str) -> None:
    """Drop the removed standby's replication slot (a slot nobody reads keeps WAL on the
    primary forever); its walsender may take a moment to exit."""
    def dropped() -> bool:
        with psycopg.connect(postgres.dsn(primary.port, "postgres"), autocommit=True,
                             connect_timeout=5) as conn:
            row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                               (slot,)).fetchone()
            if row is None:
                return True
            if row[0]:
                return False
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            return True
    try:
        eventually(dropped, timeout=30, what=f"slot {slot} dropped")
    except (NotYet, psycopg.Error) as exc:
        raise ClusterError(f"could not drop replication slot {slot} on {primary.name}: "
                           f"{exc}") from exc


class FileLedger:
    """``plans/ID.claim.json``, created exclusively: the plan's one shot."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _claim(self, plan_id: str) -> Path:
        return self.directory / f"{plan_id}.claim.json"

    def claim(self, plan: Plan, now: float) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._claim(plan.id)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            with contextlib.suppress(OSError, ValueError):
                seen = json.loads(path.read_text())
                return (f"plan {plan.id} was already applied ({seen.get('result', '?')} at "
                        f"{_when(float(seen.get('at', 0)))}); a plan runs once: make a new one")
            return f"plan {plan.id} was already applied; a plan runs once: make a new one"
        with os.fdopen(fd, "w") as f:
            json.dump({"result": "applying", "at": now, "pid": os.getpid()}, f)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(self.directory)
        return ""

    def record(self, outcome: Outcome) -> None:
        _write(self._claim(outcome.plan_id), {**asdict(outcome), "at": time.time()})


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def plan_path(directory: Path, plan_id: str) -> Path:
    if not PLAN_ID.match(plan_id):
        raise PlanError(f"{plan_id[:40]!r} is not a plan id (p- and 16 hex digits)")
    return directory / PLANS / f"{plan_id}.json"


def load_plan(directory: Path, plan_id: str) -> Plan:
    path = plan_path(directory, plan_id)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise PlanError(f"no plan {plan_id} under {path.parent}") from exc
    if len(raw) > 1 << 20:
        raise PlanError(f"{path} is not a plan file (over 1 MiB)")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise PlanError(f"{path} is not a plan file: {exc}") from exc
    if not isinstance(data, dict):
        raise PlanError(f"{path} is not a plan file")
    plan = Plan.from_json(data)
    if plan.id != plan_id:
        raise PlanError(f"{path} holds plan {plan.id}, not {plan_id}")
    return plan


def _make(directory: Path, op: str, selectors: Sequence[str], everything: bool,
          allow_protected: bool, ttl_s: float) -> Plan:
    state = ClusterState.load(directory)
    if state is None:
        raise NoCluster(f"no cluster under {directory}; start one with `bazaar cluster up`")
    made = make_plan(op, selectors, everything, allow_protected, observe(state),
                     config_hash(state, directory), time.time(), ttl_s, secrets.token_hex(16))
    (directory / PLANS).mkdir(parents=True, exist_ok=True)
    _write(plan_path(directory, made.id), made.to_json())
    return made


def plan(settings: Settings, op: str, selectors: Sequence[str], everything: bool = False,
         allow_protected: bool = False, ttl_s: float = DEFAULT_TTL_S) -> Plan:
    """Make, save and return the plan (``plans/ID.json``); it acts on nothing."""
    directory = lifecycle.cluster_dir(settings)
    with _locked(directory):
        return _make(directory, op, selectors, everything, allow_protected, ttl_s)


def apply(settings: Settings, plan_id: str, echo: Echo = print) -> tuple[Plan, Outcome]:
    """Apply the saved plan ``plan_id``: :class:`PlanRefused` if it may not run."""
    directory = lifecycle.cluster_dir(settings)
    with _locked(directory):
        saved = load_plan(directory, plan_id)
        return saved, _apply(directory, saved, echo)


def _apply(directory: Path, saved: Plan, echo: Echo) -> Outcome:
    return apply_plan(saved, LocalCluster(directory), FileLedger(directory / PLANS),
                      time.time(), echo)


def down(settings: Settings, echo: Echo = print) -> tuple[Plan, Outcome]:
    """``cluster down``: the ``down --all`` plan (protected nodes included: the whole
    cluster was asked for), shown, saved, and that same value applied — the plan path with
    no second step, not a second way to stop nodes."""
    directory = lifecycle.cluster_dir(settings)
    with _locked(directory):
        made = _make(directory, "down", (), True, True, 60.0)
        echo(f"plan {made.id}: down --all")
        return made, _apply(directory, made, echo)

"""How to scale a website, step by step — each step a real topology under the same load.

For each topology (``single`` → ``split`` → ``cluster`` → ``replicas``) the lab runs
``bazaar cluster up``, then ``bazaar load`` (its own process, open loop) at a ladder of
fixed rates with the mixed shop workload: p50/p99 from the intended send time, errors, and
the CPU each node used. The highest rate held is the highest with p99 < 50 ms, < 1% errors
and ≥ 95% of the rate achieved. wrk drives the GET path in the same run as a cross-check.
Then read-your-writes on the replicas: read-after-write probes with one standby 10 ms
behind, counting stale reads and where the reads went.

All of it shares one 2-core machine (and the generator shares it too), so the table says
where the ceiling is *here*; the projection divides each tier's measured CPU per request
into one core per node to say where it would be with machines of their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bazaar.lab._experiment import Experiment, Report, RunContext

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bazaar.cluster import ClusterState

P99_GOAL_MS = 50.0
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_tree() -> dict[int, tuple[int, float]]:
    """pid → (ppid, CPU seconds) for every process."""
    out: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            raw = (entry / "stat").read_text()
            fields = raw[raw.rindex(")") + 2:].split()
            out[int(entry.name)] = (int(fields[1]),
                                    (int(fields[11]) + int(fields[12])) / _TICK)
    return out


def _cpu_by_node(state: ClusterState) -> dict[str, float]:
    """CPU seconds of each node's process and all its descendants."""
    tree = _cpu_tree()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in tree.items():
        children.setdefault(ppid, []).append(pid)
    out = {}
    for node in state.nodes:
        total, stack = 0.0, [node.pid]
        while stack:
            pid = stack.pop()
            if pid in tree:
                total += tree[pid][1]
                stack.extend(children.get(pid, ()))
        out[node.name] = total
    return out


def _load(entry: str, rate: float, duration: float, mix: str = "shop",
          connections: int = 64) -> tuple[dict[str, Any], float]:
    """``bazaar load`` as its own process: its JSON result and the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
    run = subprocess.run([sys.executable, "-m", "bazaar.cli", "load", entry, "--rate",
                          str(rate), "--duration", str(duration), "--mix", mix,
                          "--connections", str(connections), "--json"],
                         capture_output=True, text=True, env=env, timeout=duration * 5 + 120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.stdout.strip().startswith("{"):
        result: dict[str, Any] = json.loads(run.stdout)
    else:
        raise RuntimeError(f"bazaar load failed ({run.returncode}): {run.stderr[-1500:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result, cpu


def _token(entry: str) -> str:
    from bazaar.cluster.load import login

    return login(entry)[0]


def _wrk(entry: str, token: str, seconds: float) -> dict[str, float]:
    """wrk (closed loop, 1 thread, 16 connections) on GET /products/1: req/s and its
    latency percentiles (ms)."""
    binary = shutil.which("wrk")
    if binary is None:
        return {}
    run = subprocess.run([binary, "-t1", "-c16", f"-d{max(1, int(seconds))}s", "--latency",
                          "-H", f"Authorization: Bearer {token}", f"{entry}/products/1"],
                         capture_output=True, text=True, timeout=seconds + 60)
    out: dict[str, float] = {}
    found = re.search(r"Requests/sec:\s+([\d.]+)", run.stdout)
    if found:
        out["rps"] = float(found.group(1))
    for q, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\b", run.stdout, re.M):
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
        out[f"p{q}_ms"] = float(value) * scale
    return out


def _held(row: dict[str, Any]) -> bool:
    return bool(row["p99_ms"] < P99_GOAL_MS and row["error_pct"] < 1.0
                and row["achieved"] >= 0.95 * row["rate"])


def _topology(ctx: RunContext, topology: str, rates: list[float], duration: float,
              app_servers: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from bazaar import cluster
    from bazaar.config import Settings

    settings = Settings(data_dir=ctx.work_dir / topology, log_level="warning")
    apps = app_servers if topology in ("cluster", "replicas") else None
    spec = cluster.spec_for(topology, app_servers=apps)
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    state = cluster.up(settings, spec, echo=lambda _m: None)
    try:
        entry = state.entry
        _load(entry, rates[0], 1.0)  # warm caches, pools and the JIT-less interpreter alike
        over = 0
        with ctx.step(f"{topology}: rates", total=len(rates)) as step:
            for rate in rates:
                before = _cpu_by_node(state)
                result, gen_cpu = _load(entry, rate, duration)
                after = _cpu_by_node(state)
                done = max(1, int(result["completed"]))
                by_role: dict[str, float] = {}
                for node in state.nodes:
                    used = after.get(node.name, 0.0) - before.get(node.name, 0.0)
                    by_role[node.role] = by_role.get(node.role, 0.0) + used
                by_role["load generator"] = gen_cpu
                row = {"topology": topology, "rate": rate,
                       "achieved": float(result["achieved_rate"]),
                       "p50_ms": float(result["p50_ms"]), "p99_ms": float(result["p99_ms"]),
                       "error_pct": round(100 * result["errors"] / max(1, result["scheduled"]),
                                          2),
                       "refused": int(result["refused"]),
                       "cpu_ms_per_req": {role: round(1000 * cpu / done, 3)
                                          for role, cpu in by_role.items()},
                       "cpu_pct": {role: round(100 * cpu / duration, 1)
                                   for role, cpu in by_role.items()}}
                rows.append(row)
                step.advance()
                over = 0 if _held(row) else over + 1
                if over >= 2:  # saturated twice: higher rates only queue longer
                    break
        extra["wrk_get"] = _wrk(entry, _token(entry), max(2.0, duration))
        if extra["wrk_get"].get("rps"):
            # the same GET path, open loop at half of wrk's closed-loop throughput
            half = round(extra["wrk_get"]["rps"] / 2, 1)
            get, _ = _load(entry, half, max(2.0, duration), mix="get")
            extra["load_get"] = {"rate": half, "achieved": get["achieved_rate"],
                                 "p50_ms": get["p50_ms"], "p99_ms": get["p99_ms"],
                                 "errors": get["errors"]}
        extra["nodes"] = {role: len(state.by_role(role))
                          for role in ("app", "primary", "standby", "lb", "cache")}
    finally:
        cluster.down(settings, echo=lambda _m: None)
    return rows, extra


def _projection(rows: list[dict[str, Any]], nodes: dict[str, int]) -> tuple[float, str]:
    """Requests/s with one core per node, from the CPU per request measured at the highest
    held rate (else the lowest rate): the tier that runs out first, and its limit."""
    held = [r for r in rows if _held(r)]
    basis = max(held, key=lambda r: r["rate"]) if held else rows[0]
    limits = {}
    for role, ms in basis["cpu_ms_per_req"].items():
        count = nodes.get(role, 0)
        if role == "load generator" or ms <= 0 or count == 0:
            continue
        limits[role] = count * 1000 / ms
    if not limits:
        return 0.0, ""
    role = min(limits, key=lambda k: limits[k])
    return round(limits[role]), role


def _read_your_writes(ctx: RunContext, probes: int) -> dict[str, Any]:
    from sqlalchemy import text

    from bazaar.cluster import replicated_postgres
    from bazaar.shop.adapters import MIGRATIONS, SqlCatalogQueries
    from bazaar.storage import ReadRouter, RoutingPolicy, make_engine, migrate, read_token

    with replicated_postgres(ctx.work_dir / "ryw", standbys=2, delay_ms=10) as nodes:
        primary = make_engine(nodes[0].url)
        migrate.upgrade(primary, MIGRATIONS)
        with primary.begin() as conn:
            conn.execute(text("INSERT INTO products (id, sku, name, price_cents, stock, "
                              "version) VALUES (1, 'probe', 'Probe', 100, 0, 1)"))
        router = ReadRouter(primary, [(n.name, make_engine(n.url)) for n in nodes[1:]],
                            RoutingPolicy(wait_s=0.2))
        queries = SqlCatalogQueries(router)
        stale = unrouted_stale = 0
        started = time.perf_counter()
        try:
            with ctx.step("read-your-writes probes", total=probes) as step:
                for stock in range(1, probes + 1):
                    with primary.begin() as conn:
                        conn.execute(text("UPDATE products SET stock = :s WHERE id = 1"),
                                     {"s": stock})
                    with read_token(router.primary_lsn()):
                        view = queries.product(1)
                    stale += view is None or view.stock != stock
                    step.advance()
            elapsed = time.perf_counter() - started
            reads = dict(router.reads)
            events = dict(router.events)
            # the control: the same probes without a token
            router.reads.clear()
            for stock in range(probes + 1, probes + 1 + min(probes, 500)):
                with primary.begin() as conn:
                    conn.execute(text("UPDATE products SET stock = :s WHERE id = 1"),
                                 {"s": stock})
                view = queries.product(1)
                unrouted_stale += view is None or view.stock != stock
        finally:
            router.close()
            primary.dispose()
    standby = sum(v for k, v in reads.items() if k != "primary")
    return {"probes": probes, "stale": stale, "standby_share": round(standby / probes, 4),
            "reads": reads, "events": events, "probe_ms": round(1000 * elapsed / probes, 3),
            "control_probes": min(probes, 500), "control_stale": unrouted_stale}


def run(ctx: RunContext) -> Report:
    p = ctx.params
    topologies = list(p.get("topologies", ["single", "split", "cluster", "replicas"]))
    rates = [float(r) for r in p.get("rates", [50, 100, 200, 400] if ctx.quick
                                     else [50, 100, 200, 300, 400, 600, 800, 1200])]
    duration = float(p.get("duration_s", 3.0 if ctx.quick else 10.0))
    app_servers = int(p.get("app_servers", 2))
    probes = int(p.get("probes", 1000 if ctx.quick else 10_000))
    all_rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"machine_cores": os.cpu_count(), "duration_s": duration,
                               "topologies": {}}
    for topology in topologies:
        rows, extra = _topology(ctx, topology, rates, duration, app_servers)
        all_rows += rows
        held = [r["rate"] for r in rows if _held(r)]
        projected, bottleneck = _projection(rows, extra["nodes"])
        summary["topologies"][topology] = {
            "highest_rate_held": max(held) if held else 0.0, "projected_rps": projected,
            "bottleneck": bottleneck, **extra}
    ryw = _read_your_writes(ctx, probes) if probes else {}
    summary["read_your_writes"] = ryw

    table = [[r["topology"], r["rate"], r["achieved"], r["p50_ms"], r["p99_ms"],
              r["error_pct"], ", ".join(f"{k} {v:g}%" for k, v in r["cpu_pct"].items()),
              "yes" if _held(r) else "no"] for r in all_rows]
    tops = summary["topologies"]
    held_text = "; ".join(f"{t} {v['highest_rate_held']:g} req/s (projected "
                          f"{v['projected_rps']:g} with a core per node, {v['bottleneck']} "
                          "first)" for t, v in tops.items())
    verdict = (f"Highest rate held at p99 < {P99_GOAL_MS:g} ms on this {os.cpu_count()}-core "
               f"machine: {held_text}.")
    if ryw:
        verdict += (f" Read-your-writes: {ryw['stale']} stale of {ryw['probes']:,} probes "
                    f"with one standby 10 ms behind, standbys served "
                    f"{100 * ryw['standby_share']:.1f}% (without the token: "
                    f"{ryw['control_stale']} stale of {ryw['control_probes']}).")

    def plot(fig: Figure) -> None:
        ax = fig.subplots()
        for topology in topologies:
            mine = [r for r in all_rows if r["topology"] == topology]
            ax.plot([r["rate"] for r in mine], [max(r["p99_ms"], 0.1) for r in mine],
                    marker="o", label=topology)
        ax.axhline(P99_GOAL_MS, color="grey", linestyle="--", label="p99 goal 50 ms")
        ax.set_yscale("log")
        ax.set_xlabel("offered rate (requests/s, open loop, mixed shop workload)")
        ax.set_ylabel("p99 latency from intended send (ms)")
        ax.set_title(f"Scaling steps on one {os.cpu_count()}-core machine")
        ax.legend()

    return Report(
        columns=["topology", "rate", "achieved", "p50 ms", "p99 ms", "errors %",
                 "CPU per node role (% of a core)", "held"],
        rows=table, verdict=verdict, summary=summary, plot=plot,
        notes=[f"Every node is a real process: PostgreSQL {'/'.join(['primary', 'standby'])}"
               " servers, `bazaar up` app servers, nginx, Redis, and `bazaar load` itself — "
               f"all on the same {os.cpu_count()} cores, shared with other work: the ceiling "
               "here is the machine's, which is why each step is also projected.",
               "Projection: CPU ms per request of each tier (process and its children, from "
               "/proc) at the highest rate held, one core per node: the tier with the "
               "lowest nodes/CPU-per-request runs out first.",
               "wrk (closed loop, 16 connections) and `bazaar load --mix get` (open loop at "
               "half wrk's rate) on GET /products/1 in the same run: the cross-check."])


EXPERIMENT = Experiment(
    name="scaling-steps",
    title="Scaling a website step by step, on real engines",
    explainer="How to scale a website to support millions of users?",
    claim=("Splitting the app from its database, running N app servers behind a load "
           "balancer, and moving reads to replicas each raise the load the site holds; "
           "replicas keep read-your-writes when routed by WAL position."),
    run=run,
)

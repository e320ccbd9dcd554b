"""Latency vs consistency on a real three-node PostgreSQL: a primary and two streaming
standbys on their own emulated hosts (network namespaces joined by :mod:`bazaar.netem`'s
userspace link emulator, round trips 2.6 ms and 11 ms to the standbys), commits acknowledged
after all standbys (``FIRST 2``), one of them (``ANY 1``) or the primary alone (async).

For each mode: commit latency p50/p99 from one client and from 16; the stale-read rate on
each standby read right after a commit was acknowledged; then the known hole of synchronous
replication, reproduced: a commit whose wait for the standbys is cancelled is acknowledged
(with a warning), visible on the primary, and lost when a standby is promoted.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import psycopg

from bazaar.cluster.linked import LinkedCluster, linked_postgres
from bazaar.lab._experiment import Experiment, Report, RunContext
from bazaar.netem import LinkSpec, available
from bazaar.processes import Child

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MODES = [("all", "FIRST 2 (s1, s2)"), ("one", "ANY 1 (s1, s2)"), ("async", "''")]
EXPLAINER_ROW = {"all": "1. all three nodes store it", "one": "2. primary + one secondary",
                 "async": "3. the primary alone"}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _measure_rtt(cluster: LinkedCluster, work: Any) -> dict[str, float]:
    """The round trip primary ↔ each standby as a UDP ping measures it across the link."""
    net = cluster.net
    ready = work / "echo-ready"
    echo = Child(net.argv("primary", [sys.executable, "-m", "bazaar.netem.probe", "echo",
                                      net.address("primary"), 9000, ready]),
                 name="echo", ready=ready.exists)
    out: dict[str, float] = {}
    with echo:
        for s in cluster.standbys:
            run = subprocess.run(net.argv(s.name, [sys.executable, "-m", "bazaar.netem.probe",
                                                   "ping", net.address("primary"), 9000, 20,
                                                   0.01]),
                                 capture_output=True, text=True, timeout=60, check=True)
            rtts = [r for r in json.loads(run.stdout)["rtt_ms"] if r is not None]
            out[s.name] = statistics.median(rtts)
    return out


def _one_client(cluster: LinkedCluster, n: int) -> tuple[list[float], dict[str, int]]:
    """``n`` commits one after another; after each, read the row on every standby."""
    latencies: list[float] = []
    stale = {s.name: 0 for s in cluster.standbys}
    readers = {s.name: cluster.connect(s) for s in cluster.standbys}
    try:
        with cluster.connect(cluster.primary) as conn:
            for _ in range(n):
                started = time.perf_counter()
                row = conn.execute("INSERT INTO t (client) VALUES (0) RETURNING id").fetchone()
                latencies.append((time.perf_counter() - started) * 1000)
                assert row is not None
                for name, reader in readers.items():
                    if reader.execute("SELECT 1 FROM t WHERE id = %s", row).fetchone() is None:
                        stale[name] += 1
    finally:
        for reader in readers.values():
            reader.close()
    return latencies, stale


def _many_clients(cluster: LinkedCluster, clients: int, each: int
                  ) -> tuple[list[float], float]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        try:
            with cluster.connect(cluster.primary) as conn:
                barrier.wait(timeout=60)
                for _ in range(each):
                    started = time.perf_counter()
                    conn.execute("INSERT INTO t (client) VALUES (%s)", (i + 1,))
                    latencies[i].append((time.perf_counter() - started) * 1000)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for t in threads:
        t.join(timeout=300)
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"a client failed: {errors[0]!r}")
    flat = [v for per in latencies for v in per]
    return flat, len(flat) / elapsed


def _hole(cluster: LinkedCluster) -> dict[str, Any]:
    """Mode ``all``, both standbys cut off (their links drop everything): a commit whose
    wait for them is cancelled (by ``pg_cancel_backend``, as a client library's timeout or a
    user's Ctrl-C does; a statement timeout does not reach the wait, it ends before the
    commit). Then the primary crashes and a standby is promoted: is the acknowledged row
    there?"""
    cluster.set_replication("all")
    notices: list[str] = []
    for s in cluster.standbys:
        cluster.net.set_link("primary", s.name, LinkSpec(loss=1.0))
    try:
        with cluster.connect(cluster.primary) as conn:
            conn.add_notice_handler(lambda d: notices.append(str(d.message_primary)))
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()

            def cancel() -> None:
                with cluster.connect(cluster.primary) as other:
                    other.execute("SELECT pg_cancel_backend(%s)", pid)

            timer = threading.Timer(0.3, cancel)
            timer.start()
            started = time.perf_counter()
            acknowledged = True
            error = ""
            try:
                row = conn.execute("INSERT INTO t (client) VALUES (-1) RETURNING id").fetchone()
            except psycopg.Error as exc:
                acknowledged, row, error = False, None, str(exc).strip()
            waited = (time.perf_counter() - started) * 1000
            timer.join()
        with cluster.connect(cluster.primary) as conn:
            on_primary = row is not None and conn.execute(
                "SELECT 1 FROM t WHERE id = %s", row).fetchone() is not None
        cluster.crash(cluster.primary)
        # Still cut off: the dead primary's kernel keeps retransmitting what its walsender
        # had sent, and a healed link would deliver it late. A failover promotes a standby
        # without the old primary, so the links stay down until the answer is read.
        promoted = cluster.standbys[0]
        with cluster.connect(promoted) as conn:
            conn.execute("SELECT pg_promote(wait => true, wait_seconds => 30)")
            on_promoted = row is not None and conn.execute(
                "SELECT 1 FROM t WHERE id = %s", row).fetchone() is not None
    finally:
        for s in cluster.standbys:
            cluster.net.set_link("primary", s.name, LinkSpec())
    return {"acknowledged": acknowledged, "waited_ms": waited, "notices": notices,
            "error": error, "visible_on_primary": on_primary,
            "on_promoted_standby": on_promoted, "promoted": promoted.name,
            "lost": acknowledged and not on_promoted}


def run(ctx: RunContext) -> Report:
    why = available()
    if why:
        raise RuntimeError(f"the replication lab needs an emulated network: {why}")
    rtt_ms = [float(v) for v in ctx.params.get("rtt_ms", [2.6, 11.0])]
    commits = int(ctx.params.get("commits", 60 if ctx.quick else 500))
    clients = int(ctx.params.get("clients", 16))
    each = int(ctx.params.get("each", 8 if ctx.quick else 60))
    levels = ctx.params.get("levels", ["remote_apply"] if ctx.quick
                            else ["remote_apply", "on", "remote_write"])
    rows: list[list[Any]] = []
    results: dict[str, Any] = {}
    load_before = os.getloadavg()[0]
    with ctx.step("three PostgreSQL hosts on an emulated network"):
        cm = linked_postgres(ctx.work_dir, rtt_ms, seed=13)
        cluster = cm.__enter__()
    try:
        measured_rtt = _measure_rtt(cluster, ctx.work_dir)
        with cluster.connect(cluster.primary) as conn:
            conn.execute("CREATE TABLE t (id bigserial PRIMARY KEY, client int NOT NULL)")
        runs = [(m, lvl) for m, _ in MODES for lvl in levels if m != "async" or lvl == levels[0]]
        with ctx.step("modes, commit levels", total=len(runs)) as step:
            for mode, level in runs:
                cluster.set_replication(mode, level)
                one, stale = _one_client(cluster, commits)
                many, rate = _many_clients(cluster, clients, each)
                key = f"{mode}/{level}" if mode != "async" else "async"
                results[key] = {
                    "mode": mode, "synchronous_commit": level,
                    "one_client": {"p50_ms": statistics.median(one), "p99_ms": _pct(one, 0.99),
                                   "commits": len(one)},
                    f"{clients}_clients": {"p50_ms": statistics.median(many),
                                           "p99_ms": _pct(many, 0.99), "commits_s": rate,
                                           "commits": len(many)},
                    "stale_reads": {name: count / commits for name, count in stale.items()},
                }
                rows.append([mode, level if mode != "async" else "-",
                             statistics.median(one), _pct(one, 0.99),
                             statistics.median(many), _pct(many, 0.99), rate,
                             *(stale[s.name] / commits for s in cluster.standbys)])
                step.advance()
        with ctx.step("the hole: a cancelled wait for the standbys"):
            hole = _hole(cluster)
    finally:
        cm.__exit__(None, None, None)

    names = [f"s{i}" for i in range(1, len(rtt_ms) + 1)]
    first = levels[0]
    table = {m: results[f"{m}/{first}" if m != "async" else "async"] for m, _ in MODES}
    explainer = [{"row": EXPLAINER_ROW[m], "setting": setting,
                  "commit_p50_ms": table[m]["one_client"]["p50_ms"],
                  "stale_reads": table[m]["stale_reads"]} for m, setting in MODES]
    latency_order = (table["all"]["one_client"]["p50_ms"] > table["one"]["one_client"]["p50_ms"]
                     > table["async"]["one_client"]["p50_ms"])
    stale_all = sum(table["all"]["stale_reads"].values())
    verdict = (
        f"{'Holds' if latency_order and stale_all == 0 else 'Partly holds'}: with standbys "
        f"{measured_rtt[names[0]]:.1f} and {measured_rtt[names[-1]]:.1f} ms away, a commit "
        f"takes {table['all']['one_client']['p50_ms']:.1f} ms (all) / "
        f"{table['one']['one_client']['p50_ms']:.1f} ms (one) / "
        f"{table['async']['one_client']['p50_ms']:.1f} ms (async) at p50, and a read right "
        f"after it is stale on the far standby "
        f"{table['all']['stale_reads'][names[-1]]:.0%} / "
        f"{table['one']['stale_reads'][names[-1]]:.0%} / "
        f"{table['async']['stale_reads'][names[-1]]:.0%} of the time. Synchronous is not "
        f"durable by itself: a cancelled wait left an acknowledged commit "
        f"{'lost' if hole['lost'] else 'kept'} after failover.")

    def plot(figure: Figure) -> None:
        left, right = figure.subplots(1, 2)
        colours = {"all": "tab:blue", "one": "tab:orange", "async": "tab:green"}
        for key, r in results.items():
            x = r["one_client"]["p50_ms"]
            y = r["stale_reads"][names[-1]] * 100
            left.scatter([x], [y], color=colours[r["mode"]], s=60)
            left.annotate(key, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
        left.set_xlabel("commit latency p50, one client (ms)")
        left.set_ylabel(f"stale reads on {names[-1]} right after the ack (%)")
        left.set_title("latency vs consistency")
        width = 0.2
        keys = list(results)
        series = [("one_client", "p50_ms", "p50 · 1 client"),
                  ("one_client", "p99_ms", "p99 · 1 client"),
                  (f"{clients}_clients", "p50_ms", f"p50 · {clients} clients"),
                  (f"{clients}_clients", "p99_ms", f"p99 · {clients} clients")]
        for j, (group, stat, label) in enumerate(series):
            right.bar([i + (j - 1.5) * width for i in range(len(keys))],
                      [results[k][group][stat] for k in keys], width, label=label)
        right.set_xticks(range(len(keys)), keys, rotation=20, fontsize=8)
        right.set_ylabel("commit latency (ms)")
        right.set_title(f"RTT to standbys: {measured_rtt[names[0]]:.1f} / "
                        f"{measured_rtt[names[-1]]:.1f} ms (measured)")
        right.legend(fontsize=8)

    return Report(
        columns=["mode", "synchronous_commit", "p50 ms (1)", "p99 ms (1)",
                 f"p50 ms ({clients})", f"p99 ms ({clients})", "commits/s", *(
                     f"stale {n}" for n in names)],
        rows=rows, verdict=verdict,
        summary={"method": "userspace TUN forwarder between network namespaces "
                           "(bazaar.netem; this kernel has no netem qdisc)",
                 "rtt_ms_set": dict(zip(names, rtt_ms, strict=True)),
                 "rtt_ms_measured": measured_rtt, "results": results,
                 "explainer_table": explainer, "hole": hole, "commits": commits,
                 "clients": clients, "each": each,
                 "load_average_1m": [load_before, os.getloadavg()[0]]},
        notes=[f"link: {'userspace TUN forwarder (bazaar.netem)'}; RTT set "
               f"{rtt_ms}, measured {[round(measured_rtt[n], 2) for n in names]} ms",
               f"hole: acknowledged={hole['acknowledged']} after {hole['waited_ms']:.0f} ms, "
               f"visible on the primary={hole['visible_on_primary']}, on the promoted "
               f"{hole['promoted']}={hole['on_promoted_standby']}; "
               f"notices: {hole['notices'][:1]}"],
        plot=plot)


EXPERIMENT = Experiment(
    name="replication",
    title="Latency vs consistency: synchronous, quorum and asynchronous replication",
    explainer="Tradeoff between latency and consistency",
    claim="Waiting for all replicas gives the best consistency and the highest latency; "
          "for one, medium; for none (async), the lowest latency and the worst consistency.",
    run=run,
)

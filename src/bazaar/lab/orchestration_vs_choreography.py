"""orchestration-vs-choreography: the explainer's four claims, measured on the same checkout.

Both ways run as real processes: an orchestrator (or the broker) plus three service
processes (payment; shipping; inventory + notification + orders), every service on its own
database. (1) latency at a steady arrival rate and throughput of a burst; (2) the hub as a
single point of failure: a backlog of checkouts, then the orchestrator is killed (-9) for a
while — versus one choreography service, and versus the broker; (3) reliability under
injected faults, audited (stock conserved, nobody charged without a shipment or refund);
(4) the cost of adding a step (a fraud check), as the diff each way, counted.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bazaar.lab._experiment import Experiment, Report, RunContext

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bazaar.flow.checkout.rig import Rig

MODES = ("orchestration", "choreography")
FAULTS = {"decline_rate": 0.1, "timeout_rate": 0.15, "charged_on_timeout": 0.5,
          "provider_latency_s": 0.005, "ship_fail_rate": 0.08, "ship_flaky_rate": 0.1,
          "notify_flaky_rate": 0.2, "seed": 17}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _latency(rig: Rig, prefix: str, n: int, rate: float) -> dict[str, float]:
    ids = []
    for i in range(n):
        ids.append(f"{prefix}-{i}")
        rig.place(ids[-1], {"mug": 1}, 1000)
        time.sleep(1.0 / rate)
    rig.wait_done(ids, 120)
    lat = [(o["ended_at"] - o["created_at"]) * 1000 for o in rig.orders()
           if o["order_id"] in set(ids) and o["ended_at"]]
    return {"p50_ms": statistics.median(lat), "p99_ms": _pct(lat, 0.99)}


def _throughput(rig: Rig, prefix: str, n: int) -> float:
    ids = [f"{prefix}-{i}" for i in range(n)]
    for order_id in ids:
        rig.place(order_id, {"tee": 1}, 1000)
    rig.wait_done(ids, 300)
    rows = [o for o in rig.orders() if o["order_id"] in set(ids) and o["ended_at"]]
    span = max(o["ended_at"] for o in rows) - min(o["created_at"] for o in rows)
    return len(rows) / span if span > 0 else 0.0


def _outage(rig: Rig, prefix: str, victim: str, down_s: float, rate: float
            ) -> dict[str, Any]:
    """Checkouts arrive at ``rate``; ``victim`` is killed (-9) after 1 s and restarted
    ``down_s`` later; arrivals go on for 1 s more. While the orchestrator is down a new
    checkout cannot even start (the feeder waits, as the shop would)."""
    import threading

    ids: list[str] = []
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            ids.append(f"{prefix}-{len(ids)}")
            rig.place(ids[-1], {"mug": 1}, 1000)
            time.sleep(1.0 / rate)

    feeder = threading.Thread(target=feed)
    feeder.start()
    time.sleep(1.0)
    killed = time.time()
    rig.kill(victim)
    time.sleep(down_s)
    back = time.time()
    if victim == "hub":
        rig.start_hub()
    else:
        rig.start_service(victim)
    time.sleep(1.0)
    stop.set()
    feeder.join()
    rig.wait_done(ids, 300)
    rows = [o for o in rig.orders() if o["order_id"] in set(ids)]
    ends = [o["ended_at"] for o in rows if o["ended_at"]]
    return {"steps_during": rig.steps_between(killed, back),
            "steps_before": rig.steps_between(killed - down_s, killed),
            "completed_during": sum(killed <= e < back for e in ends),
            "drain_s": max(ends) - back if ends else 0.0,
            "timeline": sorted(e - killed for e in ends)}


def _faults(rig: Rig, prefix: str, n: int) -> dict[str, Any]:
    from bazaar.flow.checkout.audit import audit
    from bazaar.flow.checkout.faults import Faults

    for group in ("payment", "shipping", "core"):
        rig.kill(group)
    rig.faults = Faults(**FAULTS)  # type: ignore[arg-type]
    for group in ("payment", "shipping", "core"):
        rig.start_service(group)
    ids = [f"{prefix}-{i}" for i in range(n)]
    for order_id in ids:
        rig.place(order_id, {"mug": 1, "tee": 1}, 1500)
    rig.wait_done(ids, 120)
    rows = {o["order_id"]: o for o in rig.orders()}
    report = audit(rig.services, rig.stock)
    return {"completed": sum(rows[i]["status"] == "completed" for i in ids),
            "compensated": sum(rows[i]["status"] == "failed" for i in ids),
            "stuck": sum(rows[i]["status"] == "pending" for i in ids),
            "audit_problems": len(report.problems)}


def _adding_a_step(work: Path) -> dict[str, Any]:
    """Both extended sagas really run (a cheap order passes, a dear one is stopped), and
    the size of each change."""
    import asyncio

    from bazaar.broker import run_subprocess
    from bazaar.flow.checkout.extension import diff_counts, prove

    counts: dict[str, Any] = diff_counts()
    with run_subprocess(work / "broker") as broker:
        outcomes = asyncio.run(prove(work, broker.bootstrap))
    for mode in counts:
        counts[mode]["works"] = outcomes.get(mode) == {"cheap": "completed", "dear": "failed"}
    return counts


def _measure(mode: str, ctx: RunContext, sizes: dict[str, Any], step: Any) -> dict[str, Any]:
    from bazaar.flow.checkout.rig import Rig

    out: dict[str, Any] = {}
    with Rig(mode, Path(ctx.work_dir) / mode) as rig:  # type: ignore[arg-type]
        rig.warm_up()
        step.advance()
        out.update(_latency(rig, "lat", sizes["latency"], sizes["rate"]))
        step.advance()
        out["throughput"] = _throughput(rig, "tp", sizes["burst"])
        step.advance()
        out["outage"] = _outage(rig, "hub", "hub", sizes["down_s"], sizes["rate"])
        if mode == "choreography":
            out["outage_service"] = _outage(rig, "svc", "shipping", sizes["down_s"],
                                            sizes["rate"])
        step.advance()
        out["faults"] = _faults(rig, "flt", sizes["faults"])
        step.advance()
    return out


def run(ctx: RunContext) -> Report:
    quick = {"latency": 40, "rate": 20.0, "burst": 120, "down_s": 2.0, "faults": 60}
    full = {"latency": 300, "rate": 30.0, "burst": 1000, "down_s": 5.0, "faults": 400}
    sizes: dict[str, Any] = quick if ctx.quick else full
    results: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        with ctx.step(f"{mode}: latency, throughput, outage, faults", total=5) as step:
            results[mode] = _measure(mode, ctx, sizes, step)
    with ctx.step("adding a fraud check, both ways", total=1) as step:
        diff = _adding_a_step(Path(ctx.work_dir) / "extension")
        step.advance()
    o, c = results["orchestration"], results["choreography"]
    rows: list[list[Any]] = [
        ["latency p50 (ms)", round(o["p50_ms"], 1), round(c["p50_ms"], 1)],
        ["latency p99 (ms)", round(o["p99_ms"], 1), round(c["p99_ms"], 1)],
        ["throughput (checkouts/s, burst)", round(o["throughput"], 1),
         round(c["throughput"], 1)],
        ["hub killed: service steps while down (same time before)",
         f"{o['outage']['steps_during']} ({o['outage']['steps_before']})",
         f"{c['outage']['steps_during']} ({c['outage']['steps_before']}) broker"],
        ["one service killed: steps while down (before)", "-",
         f"{c['outage_service']['steps_during']} ({c['outage_service']['steps_before']})"
         " shipping"],
        ["hub killed: checkouts completed while down", o["outage"]["completed_during"],
         c["outage"]["completed_during"]],
        ["hub killed: backlog drained (s after restart)", round(o["outage"]["drain_s"], 2),
         round(c["outage"]["drain_s"], 2)],
        ["faults: completed / compensated / stuck",
         "{completed} / {compensated} / {stuck}".format(**o["faults"]),
         "{completed} / {compensated} / {stuck}".format(**c["faults"])],
        ["faults: audit problems (stock, money)", o["faults"]["audit_problems"],
         c["faults"]["audit_problems"]],
        ["add a fraud check: lines changed", diff["orchestration"]["lines"],
         diff["choreography"]["lines"]],
        ["add a fraud check: existing services changed",
         diff["orchestration"]["services_changed"], diff["choreography"]["services_changed"]],
        ["add a fraud check: the extended saga works", diff["orchestration"]["works"],
         diff["choreography"]["works"]],
    ]
    faster = c["p50_ms"] < o["p50_ms"]
    spof = o["outage"]["steps_during"] == 0 and c["outage_service"]["steps_during"] > 0
    reliable = all(r["faults"]["stuck"] == 0 and r["faults"]["audit_problems"] == 0
                   for r in results.values())
    cheaper = diff["orchestration"]["services_changed"] < diff["choreography"][
        "services_changed"]
    books = ("completed or compensated every checkout with clean books" if reliable
             else "had stuck checkouts or audit problems")
    verdict = (
        f"performance: choreography p50 {c['p50_ms']:.0f} ms vs orchestration "
        f"{o['p50_ms']:.0f} ms ({'held' if faster else 'did not hold'} here); "
        f"single point of failure: {'held' if spof else 'did not hold'} — with the "
        f"orchestrator down no step ran, with one choreography service down others kept "
        f"working (the broker is choreography's own hub: "
        f"{c['outage']['steps_during']} steps while it was down); reliability: both "
        f"{books}"
        f"; adding a step: {'held' if cheaper else 'did not hold'} — "
        f"{diff['orchestration']['services_changed']} vs "
        f"{diff['choreography']['services_changed']} existing services changed.")
    return Report(
        columns=["measure", "orchestration", "choreography"], rows=rows, verdict=verdict,
        summary={"results": {m: {k: v for k, v in r.items()} for m, r in results.items()},
                 "adding_a_step": diff, "sizes": sizes, "faults": FAULTS},
        notes=[
            "Every checkout: reserve → charge → ship (pivot) → fulfil → notify → close; "
            "compensations release stock and refund; the auditor checks every service's "
            "books.",
            "Orchestration: 6 tasks per checkout through a durable orchestrator (SQLite, "
            "HTTP long-poll). Choreography: 7 events per checkout through the broker "
            "(aiokafka), each service with a transactional outbox and dedupe table.",
            "The machine is shared (2 cores, other work running): compare the two columns, "
            "not absolute numbers.",
        ],
        plot=lambda fig: _plot(fig, results, diff))


def _plot(fig: Figure, results: dict[str, dict[str, Any]], diff: dict[str, Any]) -> None:
    axes = fig.subplots(2, 2)
    colors = {"orchestration": "tab:blue", "choreography": "tab:orange"}
    ax = axes[0][0]
    for i, mode in enumerate(MODES):
        r = results[mode]
        ax.bar([i - 0.2, i + 0.2], [r["p50_ms"], r["p99_ms"]], width=0.35,
               color=colors[mode], alpha=0.9)
    ax.set_xticks([-0.2, 0.2, 0.8, 1.2], ["orch p50", "orch p99", "chor p50", "chor p99"])
    ax.set_ylabel("checkout latency (ms)")
    ax.set_title("latency")
    ax = axes[0][1]
    ax.bar(list(MODES), [results[m]["throughput"] for m in MODES],
           color=[colors[m] for m in MODES])
    ax.set_ylabel("checkouts/s")
    ax.set_title("throughput (burst)")
    ax = axes[1][0]
    outages = [("orchestrator killed", results["orchestration"]["outage"], "tab:blue"),
               ("broker killed", results["choreography"]["outage"], "tab:red"),
               ("shipping service killed", results["choreography"]["outage_service"],
                "tab:orange")]
    for label, data, color in outages:
        times = data["timeline"]
        ax.step(times, range(1, len(times) + 1), where="post", label=label, color=color)
    ax.axvline(0, color="grey", linestyle=":")
    ax.set_xlabel("s since the kill")
    ax.set_ylabel("checkouts completed")
    ax.set_title("a piece killed, restarted later")
    ax.legend(fontsize=7)
    ax = axes[1][1]
    bottom = [0.0, 0.0]
    for key, color in (("completed", "tab:green"), ("compensated", "tab:purple"),
                       ("stuck", "tab:red")):
        values = [results[m]["faults"][key] for m in MODES]
        ax.bar(list(MODES), values, bottom=bottom, color=color, label=key)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title(f"under faults; add a step: {diff['orchestration']['services_changed']} vs "
                 f"{diff['choreography']['services_changed']} services changed", fontsize=9)
    ax.legend(fontsize=7)


EXPERIMENT = Experiment(
    name="orchestration-vs-choreography",
    title="Orchestration vs choreography: the same checkout saga, both ways",
    explainer="How do microservices collaborate and interact with each other?",
    claim=("Orchestration: reliable and easy to extend, but slower and a single point of "
           "failure; choreography: faster and without a central point, but harder to make "
           "fault tolerant and to change."),
    run=run,
)

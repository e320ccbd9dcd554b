"""Cold vs warm starts on Bazaar Functions, and what the warm pool does for bursty traffic.

Part 1 measures end-to-end latency (client -> frontend -> worker manager -> worker host ->
sandbox) of cold invokes (a new function each time: Placement, spawn, Init, Invoke) and of
warm invokes (the same sandbox, reused). Part 2 sends bursts of concurrent invokes separated
by a quiet gap, on three platforms whose idle timeout is shorter than the reaper's tick (no
warm pool), shorter than the gap, and longer than the gap; it counts the cold starts.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import TYPE_CHECKING, Any

from bazaar.functions import (
    FunctionsClient,
    FunctionSpec,
    ServerProcess,
    start_server_process,
    zip_directory,
)
from bazaar.lab._experiment import Experiment, Report, RunContext

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HANDLER = "import json\n\ndef handler(event, context):\n    return {'ok': True, **event}\n"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(client: FunctionsClient, name: str, event: dict[str, Any]) -> tuple[float, bool]:
    started = time.perf_counter()
    response = client.invoke(name, event)
    elapsed = time.perf_counter() - started
    assert response.error is None, response.error
    return elapsed * 1000, response.init_duration_ms is not None


def _bursts(server: ServerProcess, name: str, bursts: int, size: int, gap_s: float,
            step: Any) -> list[tuple[float, bool]]:
    results: list[tuple[float, bool]] = []
    lock = threading.Lock()
    clients = [server.client() for _ in range(size)]

    def one(client: FunctionsClient, i: int) -> None:
        sample = _timed(client, name, {"i": i})
        with lock:
            results.append(sample)

    try:
        for b in range(bursts):
            threads = [threading.Thread(target=one, args=(c, b)) for c in clients]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            step.advance()
            if b < bursts - 1:
                time.sleep(gap_s)
    finally:
        for client in clients:
            client.close()
    return results


def run(ctx: RunContext) -> Report:
    cold_n, warm_n, bursts, size = (10, 300, 4, 4) if ctx.quick else (30, 2000, 8, 8)
    gap_s = 1.0
    p = ctx.params
    cold_n, warm_n = int(p.get("cold", cold_n)), int(p.get("warm", warm_n))
    bursts, size = int(p.get("bursts", bursts)), int(p.get("size", size))
    gap_s = float(p.get("gap_s", gap_s))
    source = ctx.work_dir / "fn"
    source.mkdir()
    (source / "app.py").write_text(HANDLER)
    code = zip_directory(source)
    cold: list[float] = []
    init: list[float] = []
    warm: list[float] = []
    with start_server_process(ctx.work_dir / "main", workers=1, worker_memory_mb=16384,
                              worker_slots=256) as server, server.client() as client:
        with ctx.step("cold starts (a new function each)", total=cold_n) as step:
            for i in range(cold_n):
                client.create(FunctionSpec(f"cold-{i}"), code)
                started = time.perf_counter()
                response = client.invoke(f"cold-{i}", {"i": i})
                cold.append((time.perf_counter() - started) * 1000)
                assert response.init_duration_ms is not None
                init.append(response.init_duration_ms)
                step.advance()
        client.create(FunctionSpec("warm"), code)
        client.invoke("warm", {})
        with ctx.step("warm invokes (one sandbox, reused)", total=warm_n) as step:
            for i in range(warm_n):
                elapsed, was_cold = _timed(client, "warm", {"i": i})
                assert not was_cold
                warm.append(elapsed)
                step.advance()

    scenarios = [("no warm pool (idle 0.01 s)", 0.01), (f"idle {gap_s / 2:g} s < gap", gap_s / 2),
                 (f"idle {gap_s * 30:g} s > gap", gap_s * 30)]
    burst_rows: list[list[Any]] = []
    burst_samples: dict[str, list[tuple[float, bool]]] = {}
    for label, idle in scenarios:
        with start_server_process(ctx.work_dir / f"idle-{idle}", workers=1, idle_timeout_s=idle,
                                  worker_memory_mb=16384, worker_slots=256) as server, \
                server.client() as client:
            client.create(FunctionSpec("bursty"), code)
            with ctx.step(f"bursts: {label}", total=bursts) as step:
                samples = _bursts(server, "bursty", bursts, size, gap_s, step)
            created = client.stats()["cold_starts"]
        burst_samples[label] = samples
        latencies = [s[0] for s in samples]
        colds = sum(1 for s in samples if s[1])
        burst_rows.append([f"bursts of {size} every {gap_s:g} s, {label}", len(samples),
                           colds, round(100 * colds / len(samples), 1), created,
                           statistics.median(latencies), _pct(latencies, 0.95)])

    rows: list[list[Any]] = [
        ["cold (Placement + spawn + Init + Invoke)", cold_n, cold_n, 100.0, cold_n,
         statistics.median(cold), _pct(cold, 0.95)],
        ["warm (sandbox reused)", warm_n, 0, 0.0, 0, statistics.median(warm),
         _pct(warm, 0.95)],
        *burst_rows,
    ]
    ratio = statistics.median(cold) / statistics.median(warm)
    no_pool, short, long_ = (r[3] for r in burst_rows)
    held = ratio > 10 and long_ < short and long_ < no_pool
    verdict = (f"{'Held' if held else 'Did not hold'}: a cold start took "
               f"{statistics.median(cold):.1f} ms p50 (Init {statistics.median(init):.1f} ms) "
               f"vs {statistics.median(warm):.2f} ms warm ({ratio:.0f}x). Under bursts "
               f"{gap_s:g} s apart, {no_pool:.0f}% of invokes were cold without a warm pool, "
               f"{short:.0f}% with an idle timeout shorter than the gap, {long_:.0f}% with a "
               f"longer one.")

    def plot(figure: Figure) -> None:
        left, right = figure.subplots(1, 2)
        for label, values in (("cold", cold), ("warm", warm)):
            ordered = sorted(values)
            left.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))],
                      label=f"{label} (p50 {statistics.median(values):.2f} ms)")
        left.set_xscale("log")
        left.set_xlabel("end-to-end invoke latency over HTTP (ms, log)")
        left.set_ylabel("fraction of invokes")
        left.set_title("cold vs warm starts")
        left.legend()
        labels = [label for label, _ in scenarios]
        cold_pct = [r[3] for r in burst_rows]
        p50s = [r[5] for r in burst_rows]
        bars = right.bar(range(len(labels)), cold_pct, color=["#c44", "#e90", "#4a4"])
        right.set_xticks(range(len(labels)), [lbl.replace(" (", "\n(").replace(" s ", " s\n")
                                              for lbl in labels], fontsize=8)
        right.set_ylabel("cold starts (% of invokes)")
        right.set_title(f"bursts of {size}, {gap_s:g} s apart")
        for bar, p50 in zip(bars, p50s, strict=True):
            right.annotate(f"p50 {p50:.1f} ms", (bar.get_x() + bar.get_width() / 2,
                                                  bar.get_height()), ha="center",
                           va="bottom", fontsize=8)

    return Report(
        columns=["scenario", "invokes", "cold", "cold %", "sandboxes created", "p50 ms",
                 "p95 ms"],
        rows=rows,
        verdict=verdict,
        summary={"cold_p50_ms": statistics.median(cold), "init_p50_ms": statistics.median(init),
                 "warm_p50_ms": statistics.median(warm), "cold_over_warm": ratio,
                 "burst_cold_percent": {label: r[3] for (label, _), r in
                                        zip(scenarios, burst_rows, strict=True)}},
        notes=[
            "Latencies are end to end from a Python HTTP client (httpx) on the same 2-core "
            "machine: client, frontend (uvicorn + Starlette), worker manager, control channel "
            "to the worker host process, pipe to the sandbox.",
            "Init is the worker manager's measurement of spawn + runtime bootstrap + package "
            "hash check + unzip + handler import.",
            "Concurrent invokes of a burst each need their own sandbox: the first burst is "
            "always cold; the warm pool keeps them for later bursts only if the idle timeout "
            "outlives the gap.",
        ],
        plot=plot,
    )


EXPERIMENT = Experiment(
    name="cold-vs-warm",
    title="Cold vs warm starts, and the warm pool under bursty load",
    explainer="AWS Lambda behind the scenes",
    claim="A cold start (Placement, sandbox, Init) costs tens of milliseconds; a warm start "
          "reuses the sandbox and costs a fraction of that; keeping sandboxes warm for longer "
          "than the gaps between bursts turns bursty traffic warm.",
    run=run,
)

"""Orchestrator throughput and latency: 4- and 13-step workflows, long-polling workers.

One run measures, with the orchestrator on SQLite and on PostgreSQL (fsync on), workers in a
process of their own (as deployed):
- completed workflows/s for a burst of workflows started as fast as a client can;
- dispatch latency (poll → start: from the moment a task is ready to the moment a worker
  holds it), at a paced load below capacity, and under the burst;
- task-update latency (a worker's result report → acknowledged), open-loop: workflows
  started on a fixed schedule (half the burst rate just measured) whatever the answers;
and as the baseline, the same four steps as direct HTTP calls with no orchestrator (what
durability and decisions cost). Single-node Netflix Conductor is reported at ~200/s, and
Orkes' single-node figure is a 13-step workflow at 200+ executions/s.

``BAZAAR_BENCH_FLOW_BEFORE=/path/to/older/src`` runs every orchestrator row twice in the
same run, alternating: the older source tree (orchestrator and worker on that
``PYTHONPATH``) and this one — before/after on the same machine at the same load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

STEPS = ("step1", "step2", "step3", "step4")


def definition(steps: int) -> dict[str, Any]:
    names = [f"step{i + 1}" for i in range(steps)]
    return {"name": f"bench{steps}",
            "tasks": [{"ref": s, "name": s, "input": {"n": "${workflow.input.n}"}}
                      for s in names],
            "output": {"done": f"${{{names[-1]}.output.ok}}"}}


CONDUCTOR_REPORTED = 200.0
STEP_APP = '''
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
async def step(request):
    body = await request.json()
    return JSONResponse({"ok": body.get("n")})
app = Starlette(routes=[Route("/{name}", step, methods=["POST"])])
'''


def worker_main(url: str, out: str, steps: int) -> None:
    """The worker process: serve the steps, record (ready_at, dispatch latency) and
    (sent_at, task-update latency) samples."""
    from bazaar.flow.orchestrator import FlowClient, Task, Worker

    samples: list[tuple[float, float]] = []
    updates: list[tuple[float, float]] = []

    class TimedClient(FlowClient):
        async def report(self, results: list[dict[str, Any]]) -> list[bool | str]:
            sent = time.time()
            answers = await super().report(results)
            updates.append((sent, time.time() - sent))
            return answers

    async def handler(task: Task) -> dict[str, Any]:
        samples.append((task.scheduled_at, time.time() - task.scheduled_at))
        return {"ok": task.input.get("n")}

    async def main() -> None:
        worker = Worker(TimedClient(url), worker_id="bench", poll_wait_s=5.0)
        for i in range(steps):
            worker.add(f"step{i + 1}", handler, concurrency=64)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await worker.run(stop)

    asyncio.run(main())
    Path(out).write_text(json.dumps({"dispatch": samples, "updates": updates}))


@contextlib.contextmanager
def _process(args: list[str], ready_url: str, log: Path,
             env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120   # a loaded shared machine starts slowly
        while True:
            try:
                httpx.get(ready_url, timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log.read_text()[-2000:]) from None
                time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait()


def _completed(client: httpx.Client) -> int:
    return int(client.get("/api/health").json()["executions"].get("COMPLETED", 0))


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def _orchestrated(db_url: str, work: Path, n: int, paced: int, steps: int = 4,
                  src: str | None = None) -> dict[str, Any]:
    from bazaar import localservers

    port = localservers.free_port()
    url = f"http://127.0.0.1:{port}"
    name = f"bench{steps}"
    samples_file = work / f"samples-{port}.json"
    env = None if src is None else {**os.environ, "PYTHONPATH": src}
    with _process([sys.executable, "-m", "bazaar.flow.orchestrator", "--port", str(port),
                   "--db", db_url], f"{url}/api/health", work / f"orch-{port}.log", env), \
            httpx.Client(base_url=url, timeout=30) as client:
        client.post("/api/definitions", json=definition(steps)).raise_for_status()
        worker = subprocess.Popen([sys.executable, __file__, "--worker", url,
                                   str(samples_file), str(steps)], env=env)
        # warm up, then a paced phase (dispatch latency with idle workers)
        client.post(f"/api/workflows/{name}/start", json={"input": {"n": 0}})
        while _completed(client) < 1:
            time.sleep(0.01)
        paced_from = time.time()
        for i in range(paced):
            client.post(f"/api/workflows/{name}/start", json={"input": {"n": i}})
            time.sleep(0.02)
        while _completed(client) < paced + 1:
            time.sleep(0.01)
        paced_to = time.time()
        done_before = paced + 1

        async def burst() -> float:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                window = asyncio.Semaphore(16)

                async def start(i: int) -> None:
                    async with window:
                        (await http.post(f"/api/workflows/{name}/start",
                                         json={"input": {"n": i}})).raise_for_status()

                begin = time.perf_counter()
                await asyncio.gather(*(start(i) for i in range(n)))
                while _completed(client) < done_before + n:
                    await asyncio.sleep(0.01)
                return time.perf_counter() - begin

        elapsed = asyncio.run(burst())
        burst_to = time.time()
        # Open loop: starts on a fixed schedule at half the burst rate, each its own request
        # (a slow answer never delays the next start), for n/2 workflows.
        rate = max(1.0, 0.5 * n / elapsed)
        count = max(20, n // 2)

        async def open_loop() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                begin = time.perf_counter()
                pending = []
                for i in range(count):
                    await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
                    pending.append(asyncio.create_task(http.post(
                        f"/api/workflows/{name}/start", json={"input": {"n": i}})))
                await asyncio.gather(*pending)
                while _completed(client) < done_before + n + count:
                    await asyncio.sleep(0.01)

        asyncio.run(open_loop())
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    data = json.loads(samples_file.read_text())
    samples, updates = data["dispatch"], data["updates"]
    calm = sorted(lat * 1000 for at, lat in samples if paced_from <= at < paced_to)
    busy = sorted(lat * 1000 for at, lat in samples if paced_to <= at < burst_to)
    opened = sorted(lat * 1000 for at, lat in updates if at >= burst_to)
    return {"wf_s": n / elapsed, "calm_p50": statistics.median(calm),
            "calm_p99": _pct(calm, 0.99), "busy_p50": statistics.median(busy),
            "open_rate": rate, "update_p50": _pct(opened, 0.5),
            "update_p99": _pct(opened, 0.99)}


def _direct(work: Path, n: int) -> float:
    from bazaar import localservers

    (work / "steps.py").write_text(STEP_APP)
    port = localservers.free_port()
    with _process([sys.executable, "-m", "uvicorn", "--app-dir", str(work), "steps:app",
                   "--port", str(port), "--log-level", "warning"],
                  f"http://127.0.0.1:{port}/", work / "steps.log"):
        async def run() -> float:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                window = asyncio.Semaphore(16)

                async def one(i: int) -> None:
                    async with window:
                        for step in STEPS:
                            (await http.post(f"/{step}", json={"n": i})).raise_for_status()

                begin = time.perf_counter()
                await asyncio.gather(*(one(i) for i in range(n)))
                return n / (time.perf_counter() - begin)

        return asyncio.run(run())


def main(quick: bool) -> None:
    from bazaar import localservers

    n, paced = (600, 50) if quick else (4000, 200)
    before = os.environ.get("BAZAAR_BENCH_FLOW_BEFORE")
    trees: list[tuple[str, str | None]] = [("before", before), ("after", None)] if before \
        else [("", None)]
    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-flow-") as tmp:
        work = Path(tmp)
        with localservers.postgres(fsync=True) as pg:
            for label, steps, db, size in (
                    ("4 steps, SQLite (WAL, synchronous=NORMAL)", 4, "sqlite", n),
                    ("4 steps, PostgreSQL (fsync on)", 4, "pg", n),
                    ("13 steps, SQLite", 13, "sqlite", n // 2)):
                for tree, src in trees:
                    url = pg.url if db == "pg" else \
                        f"sqlite:///{work / f'flow-{steps}-{tree or 0}.db'}"
                    r = _orchestrated(url, work, size, paced, steps, src)
                    rows.append((f"{label} {tree}".strip(), r))
                    print(f"  {rows[-1][0]}: {r['wf_s']:.0f} wf/s", file=sys.stderr)
        direct = _direct(work, n)
    print(f"Workflows in a burst (16 starts in flight; {n} of 4 steps, {n // 2} of 13); "
          f"dispatch latency at {paced} paced workflows (50/s) and under the burst; "
          "task-update latency open-loop at half the burst rate")
    print(f"{'':52} {'wf/s':>6} {'vs Cond.':>8} {'vs direct':>9} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'busy p50':>9} {'open wf/s':>9} {'upd p50':>8} {'upd p99':>8}")
    for label, r in rows:
        print(f"{label:52} {r['wf_s']:6.0f} {r['wf_s'] / CONDUCTOR_REPORTED:7.2f}x "
              f"{r['wf_s'] / direct:8.2f}x {r['calm_p50']:7.2f} {r['calm_p99']:7.2f} "
              f"{r['busy_p50']:9.1f} {r['open_rate']:9.0f} {r['update_p50']:8.1f} "
              f"{r['update_p99']:8.1f}")
    print(f"{'baseline: 4 direct HTTP calls, no orchestrator':52} {direct:6.0f} "
          f"{direct / CONDUCTOR_REPORTED:7.2f}x {1.0:8.2f}x")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main(quick="--quick" in sys.argv)

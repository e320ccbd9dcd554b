"""Orchestrator throughput and dispatch latency: a 4-step workflow, long-polling workers.

One run measures, with the orchestrator on SQLite and on PostgreSQL (fsync on), workers in a
process of their own (as deployed):
- completed workflows/s for a burst of workflows started as fast as a client can;
- dispatch latency (poll → start: from the moment a task is ready to the moment a worker
  holds it), at a paced load below capacity, and under the burst;
and as the baseline, the same four steps as direct HTTP calls with no orchestrator (what
durability and decisions cost). Single-node Netflix Conductor is reported at ~200/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
DEFINITION = {
    "name": "bench4",
    "tasks": [{"ref": s, "name": s, "input": {"n": "${workflow.input.n}"}} for s in STEPS],
    "output": {"done": "${step4.output.ok}"},
}
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


def worker_main(url: str, out: str) -> None:
    """The worker process: serve the four steps, record (ready_at, dispatch latency)."""
    from bazaar.flow.orchestrator import FlowClient, Task, Worker

    samples: list[tuple[float, float]] = []

    async def handler(task: Task) -> dict[str, Any]:
        samples.append((task.scheduled_at, time.time() - task.scheduled_at))
        return {"ok": task.input.get("n")}

    async def main() -> None:
        worker = Worker(FlowClient(url), worker_id="bench", poll_wait_s=5.0)
        for step in STEPS:
            worker.add(step, handler, concurrency=64)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await worker.run(stop)

    asyncio.run(main())
    Path(out).write_text(json.dumps(samples))


@contextlib.contextmanager
def _process(args: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
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


def _orchestrated(db_url: str, work: Path, n: int, paced: int) -> dict[str, Any]:
    from bazaar import localservers

    port = localservers.free_port()
    url = f"http://127.0.0.1:{port}"
    samples_file = work / f"samples-{port}.json"
    with _process([sys.executable, "-m", "bazaar.flow.orchestrator", "--port", str(port),
                   "--db", db_url], f"{url}/api/health", work / f"orch-{port}.log"), \
            httpx.Client(base_url=url, timeout=30) as client:
        client.post("/api/definitions", json=DEFINITION).raise_for_status()
        worker = subprocess.Popen([sys.executable, __file__, "--worker", url,
                                   str(samples_file)])
        # warm up, then a paced phase (dispatch latency with idle workers)
        client.post("/api/workflows/bench4/start", json={"input": {"n": 0}})
        while _completed(client) < 1:
            time.sleep(0.01)
        paced_from = time.time()
        for i in range(paced):
            client.post("/api/workflows/bench4/start", json={"input": {"n": i}})
            time.sleep(0.02)
        while _completed(client) < paced + 1:
            time.sleep(0.01)
        paced_to = time.time()

        async def burst() -> float:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                window = asyncio.Semaphore(16)

                async def start(i: int) -> None:
                    async with window:
                        (await http.post("/api/workflows/bench4/start",
                                         json={"input": {"n": i}})).raise_for_status()

                begin = time.perf_counter()
                await asyncio.gather(*(start(i) for i in range(n)))
                while _completed(client) < paced + 1 + n:
                    await asyncio.sleep(0.01)
                return time.perf_counter() - begin

        elapsed = asyncio.run(burst())
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    samples = json.loads(samples_file.read_text())
    calm = sorted(lat * 1000 for at, lat in samples if paced_from <= at < paced_to)
    busy = sorted(lat * 1000 for at, lat in samples if at >= paced_to)
    return {"wf_s": n / elapsed, "calm_p50": statistics.median(calm),
            "calm_p99": calm[int(len(calm) * 0.99) - 1], "busy_p50": statistics.median(busy)}


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
    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-flow-") as tmp:
        work = Path(tmp)
        rows.append(("orchestrator, SQLite (WAL, synchronous=NORMAL)",
                     _orchestrated(f"sqlite:///{work / 'flow.db'}", work, n, paced)))
        with localservers.postgres(fsync=True) as pg:
            rows.append(("orchestrator, PostgreSQL (fsync on)",
                         _orchestrated(pg.url, work, n, paced)))
        direct = _direct(work, n)
    print(f"{n} four-step workflows in a burst (16 starts in flight); dispatch latency at "
          f"{paced} paced workflows (50/s) and under the burst")
    print(f"{'':48} {'wf/s':>6} {'vs Conductor':>12} {'vs direct':>9} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'busy p50':>9}")
    for label, r in rows:
        print(f"{label:48} {r['wf_s']:6.0f} {r['wf_s'] / CONDUCTOR_REPORTED:11.2f}x "
              f"{r['wf_s'] / direct:8.2f}x {r['calm_p50']:7.2f} {r['calm_p99']:7.2f} "
              f"{r['busy_p50']:9.1f}")
    print(f"{'baseline: 4 direct HTTP calls, no orchestrator':48} {direct:6.0f} "
          f"{direct / CONDUCTOR_REPORTED:11.2f}x {1.0:8.2f}x")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], sys.argv[3])
    else:
        main(quick="--quick" in sys.argv)

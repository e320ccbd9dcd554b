"""Orchestrator throughput and dispatch latency: a 4-step workflow, long-polling workers.

Measures, in one run: completed workflows/s and poll→start dispatch latency (from the moment
a task is ready to the moment a worker holds it) with the orchestrator on SQLite and on
PostgreSQL; and, as the baseline, the same four steps called directly over HTTP with no
orchestrator (what the orchestrator's durability and decisions cost). Single-node Netflix
Conductor is reported at ~200 executions/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bazaar import localservers
from bazaar.flow.orchestrator import FlowClient, Task, Worker

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


@contextlib.contextmanager
def _process(args: list[str], url: str, log: Path) -> Iterator[None]:
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log.read_text()[-2000:]) from None
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait()


def _orchestrator(db_url: str, port: int, work: Path) -> contextlib.AbstractContextManager[None]:
    return _process([sys.executable, "-m", "bazaar.flow.orchestrator", "--port", str(port),
                     "--db", db_url], f"http://127.0.0.1:{port}/api/health",
                    work / f"orchestrator-{port}.log")


async def _run_orchestrated(url: str, n: int, in_flight: int) -> dict[str, Any]:
    client = FlowClient(url)
    await client.register(DEFINITION)
    latencies: list[float] = []
    done = asyncio.Event()
    finished = 0
    started = 0
    window = asyncio.Semaphore(in_flight)

    async def handler(task: Task) -> dict[str, Any]:
        nonlocal finished
        latencies.append(time.time() - task.scheduled_at)
        if task.name == "step4":
            finished += 1
            window.release()
            if finished >= n:
                done.set()
        return {"ok": task.input.get("n")}

    worker = Worker(client, worker_id="bench", poll_wait_s=5.0)
    for step in STEPS:
        worker.add(step, handler, concurrency=in_flight)
    stop = asyncio.Event()
    runner = asyncio.create_task(worker.run(stop))
    begin = time.perf_counter()

    starts: set[asyncio.Task[Any]] = set()

    async def feed() -> None:
        nonlocal started
        while started < n:
            await window.acquire()
            started += 1
            job = asyncio.create_task(client.start("bench4", {"n": started}))
            starts.add(job)
            job.add_done_callback(starts.discard)

    feeder = asyncio.create_task(feed())
    await done.wait()
    elapsed = time.perf_counter() - begin
    feeder.cancel()
    await asyncio.sleep(0.3)  # last results acknowledged
    health = (await client.http.get("/api/health")).json()
    stop.set()
    await runner
    await client.aclose()
    latencies.sort()
    return {"workflows_per_s": n / elapsed, "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "completed": health["executions"].get("COMPLETED", 0)}


async def _run_direct(url: str, n: int, in_flight: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=64)) as http:
        window = asyncio.Semaphore(in_flight)

        async def one(i: int) -> None:
            async with window:
                for step in STEPS:
                    (await http.post(f"/{step}", json={"n": i})).raise_for_status()

        begin = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return {"workflows_per_s": n / (time.perf_counter() - begin)}


def main(quick: bool) -> None:
    n = 400 if quick else 3000
    in_flight = 64
    rows: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-flow-") as tmp:
        work = Path(tmp)
        port = localservers.free_port()
        with _orchestrator(f"sqlite:///{work / 'flow.db'}", port, work):
            rows.append(("orchestrator, SQLite (WAL, synchronous=NORMAL)",
                         asyncio.run(_run_orchestrated(f"http://127.0.0.1:{port}", n,
                                                       in_flight))))
        with localservers.postgres(fsync=True) as pg:
            port = localservers.free_port()
            with _orchestrator(pg.url, port, work):
                rows.append(("orchestrator, PostgreSQL (fsync on)",
                             asyncio.run(_run_orchestrated(f"http://127.0.0.1:{port}", n,
                                                           in_flight))))
        app = work / "steps.py"
        app.write_text(STEP_APP)
        port = localservers.free_port()
        with _process([sys.executable, "-m", "uvicorn", "--app-dir", str(work), "steps:app",
                       "--port", str(port), "--log-level", "warning"],
                      f"http://127.0.0.1:{port}/", work / "steps.log"):
            rows.append(("baseline: 4 direct HTTP calls, no orchestrator",
                         asyncio.run(_run_direct(f"http://127.0.0.1:{port}", n, in_flight))))
    print(f"{n} four-step workflows, {in_flight} in flight, workers long-polling")
    print(f"{'':50} {'wf/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs Conductor':>13}")
    for label, r in rows:
        p50 = f"{r['p50_ms']:8.2f}" if "p50_ms" in r else f"{'-':>8}"
        p99 = f"{r['p99_ms']:8.2f}" if "p99_ms" in r else f"{'-':>8}"
        print(f"{label:50} {r['workflows_per_s']:8.0f} {p50} {p99} "
              f"{r['workflows_per_s'] / CONDUCTOR_REPORTED:12.2f}x")
    direct = rows[-1][1]["workflows_per_s"]
    for label, r in rows[:-1]:
        print(f"{label}: {r['workflows_per_s'] / direct:.2f}x the direct-call baseline; "
              f"{r['completed']} completed")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)

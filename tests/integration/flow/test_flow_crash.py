"""kill -9 the orchestrator (and a worker) mid-saga, restart, and check nothing was lost and
no acknowledged step ran again. Real processes, real HTTP, real SQLite file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.orchestrator import OrchestratorProcess

HERE = Path(__file__).resolve().parent
SAGA: dict[str, Any] = {
    "name": "crash_saga",
    "tasks": [
        {"ref": "reserve", "name": "reserve", "input": {"order": "${workflow.input.order}"},
         "lease_s": 2, "compensation": {"name": "release", "lease_s": 2,
                                        "input": {"order": "${workflow.input.order}"}}},
        {"ref": "charge", "name": "charge", "input": {"order": "${workflow.input.order}"},
         "lease_s": 2, "compensation": {"name": "refund", "lease_s": 2,
                                        "input": {"order": "${workflow.input.order}"}}},
        {"ref": "ship", "name": "ship", "input": {"order": "${workflow.input.order}"},
         "lease_s": 2},
        {"ref": "notify", "name": "notify", "input": {"order": "${workflow.input.order}"},
         "lease_s": 2, "retry": {"max_attempts": None, "delay_s": 0.2}},
    ],
}


@pytest.fixture
def orchestrator(tmp_path: Path) -> Iterator[OrchestratorProcess]:
    with OrchestratorProcess(tmp_path / "flow.db", log=tmp_path / "server.log") as node:
        node.register([SAGA])
        yield node


def start_worker(node: OrchestratorProcess, log: Path, name: str,
                 slow: float = 0.03) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(HERE / "flow_crash_worker.py"), node.url,
                             str(log), name, str(slow)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def lines(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def wait_all_finished(node: OrchestratorProcess, ids: list[str], timeout: float = 120) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown = [httpx.get(f"{node.url}/api/executions/{i}", timeout=10).json() for i in ids]
        if all(s["status"] in ("COMPLETED", "FAILED") for s in shown):
            return shown
        assert time.monotonic() < deadline, [s["why"] for s in shown
                                             if s["status"] not in ("COMPLETED", "FAILED")]
        time.sleep(0.2)


def check_invariants(shown: list[dict[str, Any]], log: list[dict[str, Any]]) -> None:
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in log:
        by_key[entry["key"]].append(entry)
    for key, entries in by_key.items():
        acked = [i for i, e in enumerate(entries) if e["event"] == "ack"]
        if acked:
            runs_after = [e for e in entries[acked[0]:] if e["event"] == "run"]
            assert not runs_after, f"{key} ran again after its result was acknowledged"
    for execution in shown:
        order = int(execution["input"]["order"])
        tasks = execution["tasks"]
        forward = {t["ref"]: t for t in tasks if t["kind"] == "forward"}
        done_keys = {t["idempotency_key"] for t in tasks if t["status"] in
                     ("COMPLETED", "COMPENSATED")}
        ran = {e["key"] for e in log if e["event"] == "run"}
        assert done_keys <= ran, "a step counted as done that no worker ran"
        per_step = defaultdict(int)
        for t in tasks:
            if t["status"] in ("COMPLETED", "COMPENSATED"):
                per_step[(t["ref"], t["kind"])] += 1
        assert all(n == 1 for n in per_step.values()), per_step
        if order % 5 == 0:
            assert execution["status"] == "FAILED" and "declined" in execution["reason"]
            assert forward["reserve"]["status"] == "COMPENSATED"
        else:
            assert execution["status"] == "COMPLETED", execution["why"]
            assert all(forward[r]["status"] == "COMPLETED"
                       for r in ("reserve", "charge", "ship", "notify"))


def start_many(node: OrchestratorProcess, n: int) -> list[str]:
    return [httpx.post(f"{node.url}/api/workflows/crash_saga/start",
                       json={"input": {"order": i}, "idempotency_key": f"order-{i}"},
                       timeout=10).json()["id"] for i in range(n)]


@pytest.mark.slow
def test_orchestrator_killed_mid_run_loses_nothing(orchestrator: OrchestratorProcess,
                                                   tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    workers = [start_worker(orchestrator, log, f"w{i}") for i in range(2)]
    try:
        ids = start_many(orchestrator, 40)
        deadline = time.monotonic() + 60
        while len([e for e in lines(log) if e["event"] == "run"]) < 40:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        orchestrator.kill9()  # mid-run: leases out, results in flight
        time.sleep(0.5)
        orchestrator.start()
        # a repeated start after the crash is idempotent
        assert start_many(orchestrator, 40) == ids
        shown = wait_all_finished(orchestrator, ids)
    finally:
        for w in workers:
            w.kill()
            w.wait()
    check_invariants(shown, lines(log))


@pytest.mark.slow
def test_worker_killed_mid_task_is_redelivered(orchestrator: OrchestratorProcess,
                                               tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    doomed = start_worker(orchestrator, log, "doomed", slow=5.0)  # sits on its tasks
    try:
        ids = start_many(orchestrator, 6)
        deadline = time.monotonic() + 30
        while True:
            queues = httpx.get(f"{orchestrator.url}/api/queues").json()
            if queues.get("reserve", {}).get("in_progress", 0) >= 4:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        rescuer = start_worker(orchestrator, log, "rescuer")
        shown = wait_all_finished(orchestrator, ids)
    finally:
        for proc in (doomed, locals().get("rescuer")):
            if isinstance(proc, subprocess.Popen) and proc.poll() is None:
                proc.kill()
                proc.wait()
    check_invariants(shown, lines(log))
    redelivered = [t for s in shown for t in s["tasks"] if t["deliveries"] > 1]
    assert redelivered and all(t["worker_id"] == "rescuer" for t in redelivered)
    assert any("lease of doomed lapsed" in note for s in shown for note in s["notes"])

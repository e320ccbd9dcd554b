"""``bazaar load`` measures from the intended send time: behind a server that stalls, every
request scheduled during the stall is charged for it (no coordinated omission). Checked
against a real TCP server that answers HTTP/1.1 and stalls once, and against the shop."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bazaar.cluster.load import Workload, run
from bazaar.localservers import bazaar_up
from bazaar.processes import free_port


@pytest.fixture
def stalling_server() -> Iterator[tuple[str, dict[str, int]]]:
    """HTTP/1.1 on loopback: answers 200 at once, except the 20th request, held 500 ms."""
    port = free_port()
    seen = {"requests": 0}
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    return
                seen["requests"] += 1
                if seen["requests"] == 20:
                    await asyncio.sleep(0.5)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    stop = asyncio.Event()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        ready.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}", seen
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def test_a_stall_is_charged_to_every_request_queued_behind_it(
        stalling_server: tuple[str, dict[str, int]]) -> None:
    url, seen = stalling_server
    workload = Workload([1], (("product", 1, "GET"),))
    result = asyncio.run(run(url, "t", workload, rate=100, duration_s=2, connections=1))
    assert result.scheduled == result.completed == seen["requests"] == 200
    assert result.errors == 0 and result.statuses == {"200": 200}
    # ~50 requests were due during the 500 ms stall: a closed-loop count would blame one.
    assert result.late >= 30
    # ~50 latencies from 500 ms down to ~10 ms: the top tenth are all over 200 ms
    assert result.p50_ms < 100 and result.p90_ms > 200 and result.p99_ms > 400
    assert result.max_ms >= 450


def test_refused_connections_are_errors_not_a_crash() -> None:
    workload = Workload([1], (("product", 1, "GET"),))
    result = asyncio.run(run(f"http://127.0.0.1:{free_port()}", "t", workload, rate=50,
                             duration_s=0.2, connections=2, timeout_s=2))
    assert result.errors == result.scheduled == 10
    assert result.statuses == {"0": 10} and result.error_samples


def test_bazaar_load_against_the_shop(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
    with bazaar_up(tmp_path / "data", "--no-services",
                   env={"BAZAAR_RATE_LIMIT_PER_S": "100000",
                        "BAZAAR_RATE_LIMIT_BURST": "100000"}) as shop:
        run_ = subprocess.run([sys.executable, "-m", "bazaar.cli", "load", shop.url,
                               "--rate", "40", "--duration", "2", "--json"],
                              capture_output=True, text=True, env=env, timeout=120)
    assert run_.returncode == 0, run_.stderr[-2000:]
    result = json.loads(run_.stdout)
    assert result["scheduled"] == result["completed"] == 80
    assert result["errors"] == 0
    assert set(result["ops"]) <= {"browse", "search", "product", "orders", "order"}
    assert len(result["ops"]) >= 3
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    bad = subprocess.run([sys.executable, "-m", "bazaar.cli", "load", "ftp://x", "--duration",
                          "0.1"], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 1 and "error:" in bad.stderr

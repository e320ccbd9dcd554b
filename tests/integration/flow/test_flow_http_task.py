"""HTTP tasks, run by the orchestrator's system worker against a real HTTP server: the
response becomes the output; 5xx is retried, 4xx fails the step for good."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bazaar.flow.orchestrator import ApiConfig, FlowClient, Orchestrator, Service, Store, create_app
from bazaar.localservers import free_port

TARGET = '''
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
calls = {"n": 0}
async def echo(request):
    body = await request.json()
    return JSONResponse({"got": body, "key": request.headers.get("idempotency-key")})
async def flaky(request):
    calls["n"] += 1
    return JSONResponse({"n": calls["n"]}, status_code=503 if calls["n"] < 3 else 200)
async def missing(request):
    return JSONResponse({"error": "no such thing"}, status_code=404)
app = Starlette(routes=[Route("/echo", echo, methods=["POST"]),
                        Route("/flaky", flaky), Route("/missing", missing)])
'''


@pytest.fixture
def target(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "target.py").write_text(TARGET)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(tmp_path),
                             "target:app", "--port", str(port), "--log-level", "warning"])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/missing", timeout=1)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait()


def test_http_tasks(tmp_path: Path, target: str) -> None:
    fast = {"max_attempts": 5, "backoff": "fixed", "delay_s": 0.05}
    definition = {"name": "calls", "tasks": [
        {"ref": "echo", "type": "HTTP", "request": {
            "url": f"{target}/echo", "method": "POST", "body": {"n": "${workflow.input.n}"}}},
        {"ref": "flaky", "type": "HTTP", "retry": fast, "request": {"url": f"{target}/flaky"}},
    ], "output": {"echo": "${echo.output.body}", "flaky": "${flaky.output.body.n}"}}
    broken = {"name": "broken", "tasks": [
        {"ref": "gone", "type": "HTTP", "retry": fast, "request": {"url": f"{target}/missing"}}]}

    async def main() -> tuple[dict[str, object], dict[str, object]]:
        store = Store(f"sqlite:///{tmp_path / 'flow.db'}")
        store.create_schema()
        service = Service(Orchestrator(store), ApiConfig(sweep_interval_s=0.05))
        async with service.running():
            client = FlowClient("http://flow", transport=httpx.ASGITransport(
                app=create_app(service)))
            await client.register(definition)
            await client.register(broken)
            ok = await client.start("calls", {"n": 5})
            bad = await client.start("broken", {})
            for _ in range(400):
                a, b = await client.execution(ok["id"]), await client.execution(bad["id"])
                if a["status"] != "RUNNING" and b["status"] != "RUNNING":
                    break
                await asyncio.sleep(0.02)
            await client.aclose()
        return a, b

    ok, bad = asyncio.run(main())
    assert ok["status"] == "COMPLETED", ok["why"]
    output = ok["output"]
    assert isinstance(output, dict) and output["flaky"] == 3
    assert output["echo"]["got"] == {"n": 5} and output["echo"]["key"].endswith("/echo/1")
    assert bad["status"] == "FAILED" and "HTTP 404" in str(bad["reason"])
    tasks = bad["tasks"]
    assert isinstance(tasks, list) and len(tasks) == 1  # a 4xx is not retried

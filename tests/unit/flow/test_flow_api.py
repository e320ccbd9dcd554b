"""The HTTP API and the worker SDK, in process (ASGI transport, real engine and store)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.flow import SAGA

import bazaar.flow
import bazaar.flow.orchestrator
from bazaar.flow import DefinitionError, InvalidState, NonRetryableError, NotFound, StartConflict
from bazaar.flow.orchestrator import (
    ApiConfig,
    FlowClient,
    Orchestrator,
    Service,
    Store,
    Task,
    Worker,
    create_app,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[FlowClient]:
    store = Store(f"sqlite:///{tmp_path / 'api.db'}")
    store.create_schema()
    service = Service(Orchestrator(store), ApiConfig(sweep_interval_s=0.05, recheck_s=0.05))
    app = create_app(service)
    async with service.running():
        flow = FlowClient("http://flow", transport=httpx.ASGITransport(app=app))
        yield flow
        await flow.aclose()


def test_public_api_is_explicit() -> None:
    for module in (bazaar.flow, bazaar.flow.orchestrator):
        assert sorted(module.__all__) == sorted(set(module.__all__))
        for name in module.__all__:
            assert getattr(module, name) is not None


async def test_register_and_bad_input_are_problem_details(client: FlowClient) -> None:
    assert await client.register(SAGA) == {"name": "saga", "version": 1}
    with pytest.raises(DefinitionError) as info:
        await client.register("name: x\ntasks: []\n")
    assert info.value.problems
    with pytest.raises(NotFound):
        await client.start("nope")
    with pytest.raises(NotFound):
        await client.execution("nope")
    with pytest.raises(ValueError):
        await client.control("x", "explode")


async def test_worker_sdk_runs_a_saga_end_to_end(client: FlowClient) -> None:
    await client.register(SAGA)
    seen: list[str] = []

    async def step(task: Task) -> dict[str, Any]:
        seen.append(task.idempotency_key)
        return {"id": f"{task.name}-{task.input.get('order')}"}

    worker = Worker(client, worker_id="sdk", poll_wait_s=0.2)
    for name in ("reserve", "charge", "ship", "notify"):
        worker.add(name, step)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    started = await client.start("saga", {"order": 5}, idempotency_key="o5")
    assert (await client.start("saga", {"order": 5}, idempotency_key="o5"))["id"] == \
        started["id"]
    with pytest.raises(StartConflict):
        await client.start("saga", {}, idempotency_key="o5", on_conflict="fail")
    for _ in range(400):
        shown = await client.execution(started["id"])
        if shown["status"] == "COMPLETED":
            break
        await asyncio.sleep(0.02)
    stop.set()
    await running
    assert shown["status"] == "COMPLETED", shown["why"]
    assert shown["output"] == {"shipment": "ship-None"}
    assert len(seen) == 4 and len(set(seen)) == 4
    assert [t["ref"] for t in shown["tasks"]] == ["reserve", "charge", "ship", "notify"]


async def test_non_retryable_errors_compensate_and_show_explains(client: FlowClient) -> None:
    await client.register(SAGA)
    worker = Worker(client, worker_id="sdk", poll_wait_s=0.2)

    def decline(task: Task) -> dict[str, Any]:
        raise NonRetryableError("card declined")

    worker.add("reserve", lambda t: {"id": "r1"})
    worker.add("charge", decline)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    started = await client.start("saga", {"order": 1})
    for _ in range(400):
        shown = await client.execution(started["id"])
        if shown["status"] == "COMPENSATING" and any(
                "release" in line for line in shown["why"]):
            break
        await asyncio.sleep(0.02)
    assert any("no worker has polled" in line for line in shown["why"]), shown["why"]
    worker.add("release", lambda t: {})
    stop.set()
    await running
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    for _ in range(400):
        shown = await client.execution(started["id"])
        if shown["status"] == "FAILED":
            break
        await asyncio.sleep(0.02)
    stop.set()
    await running
    assert shown["status"] == "FAILED" and "card declined" in shown["reason"]
    assert [(t["ref"], t["kind"], t["status"]) for t in shown["tasks"]] == [
        ("reserve", "forward", "COMPENSATED"), ("charge", "forward", "FAILED"),
        ("reserve", "compensation", "COMPLETED")]


async def test_long_poll_wakes_when_work_arrives_and_controls(client: FlowClient) -> None:
    await client.register(SAGA)
    waiting = asyncio.create_task(client.poll("reserve", "w", wait_s=20))
    await asyncio.sleep(0.05)
    started = await client.start("saga", {"order": 2})
    leased = await waiting
    assert [t.execution_id for t in leased] == [started["id"]]
    assert await client.heartbeat(leased[0].id, "w") > 0
    assert await client.complete(leased[0].id, "w", {"id": "r"})
    assert not await client.complete(leased[0].id, "w", {"id": "r"})  # duplicate: ignored
    assert (await client.control(started["id"], "pause"))["status"] == "PAUSED"
    with pytest.raises(InvalidState):
        await client.control(started["id"], "pause")
    assert (await client.control(started["id"], "resume"))["status"] == "RUNNING"
    assert (await client.control(started["id"], "terminate", "test"))["status"] == "TERMINATED"
    assert (await client.control(started["id"], "retry"))["status"] == "RUNNING"
    listed = await client.executions(status="RUNNING")
    assert [e["id"] for e in listed] == [started["id"]]
    queues = await client.queues()
    assert queues["charge"]["scheduled"] == 1


async def test_errors_are_bazaar_problems_and_big_bodies_are_refused(tmp_path: Path) -> None:
    """The orchestrator's HTTP errors come from bazaar.web's one renderer (one ``type``
    base, a ``reason`` to switch on), and a body over MAX_BODY is a 413 before it is read."""
    from bazaar.flow.orchestrator.routes import MAX_BODY
    from bazaar.web import PROBLEM_JSON, TYPE_BASE

    store = Store(f"sqlite:///{tmp_path / 'web.db'}")
    store.create_schema()
    service = Service(Orchestrator(store), ApiConfig(system_workers=False))
    async with service.running(), httpx.AsyncClient(
            base_url="http://flow", transport=httpx.ASGITransport(app=create_app(service))) as http:
        bad = await http.post("/api/definitions", content=b"name: x\ntasks: []\n")
        assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM_JSON
        body = bad.json()
        assert body["type"] == TYPE_BASE + "flow/invalid-definition"
        assert body["reason"] == "invalid-definition" and body["problems"]
        missing = (await http.get("/api/executions/nope")).json()
        assert (missing["status"], missing["type"]) == (404, TYPE_BASE + "not-found")
        await http.post("/api/definitions", json=SAGA)
        first = await http.post("/api/workflows/saga/start", json={"input": {"order": 1},
                                                                    "idempotency_key": "k"})
        again = await http.post("/api/workflows/saga/start",
                                json={"input": {"order": 1}, "idempotency_key": "k",
                                      "on_conflict": "fail"})
        assert again.status_code == 409
        assert again.json()["existing_id"] == first.json()["id"]
        assert again.json()["title"] == "start conflict"  # what FlowClient reads back

        huge = await http.post("/api/definitions", content=b"x" * (MAX_BODY + 1),
                               headers={"content-type": "application/json"})
        assert huge.status_code == 413 and huge.json()["field"] == "body"
        assert len(await service.call(service.engine.definitions)) == 1  # nothing added

"""System workers the orchestrator runs itself: HTTP tasks (and EVENT publishing, when an
event sink is configured). They lease tasks exactly like external workers do, so leases,
retries and the sweeper apply to them too."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx

from bazaar.flow.errors import FlowError
from bazaar.flow.orchestrator.definition import EVENT_QUEUE, HTTP_QUEUE
from bazaar.flow.orchestrator.state import TaskRow

if TYPE_CHECKING:
    from bazaar.flow.orchestrator.service import Service

log = logging.getLogger("bazaar.flow")
#: publish(topic, key, payload) -> offset-like metadata; set by whoever wires an event log.
EventSink = Callable[[str, str | None, dict[str, Any]], Awaitable[dict[str, Any]]]


class TaskFailed(Exception):
    """A system task's attempt failed; ``retryable`` says whether its policy may retry."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class SystemWorkers:
    """Long-polls the system queues inside the orchestrator process."""

    def __init__(self, service: Service, *, concurrency: int = 16,
                 event_sink: EventSink | None = None) -> None:
        self.service = service
        self.worker_id = f"orchestrator-{os.getpid()}"
        self.http = httpx.AsyncClient()
        self.slots = asyncio.Semaphore(concurrency)
        self.event_sink = event_sink or service.event_sink
        self._running: set[asyncio.Task[None]] = set()

    def start(self) -> list[asyncio.Task[None]]:
        loops = [asyncio.create_task(self._loop(HTTP_QUEUE, self._http))]
        if self.event_sink is not None:
            loops.append(asyncio.create_task(self._loop(EVENT_QUEUE, self._event)))
        return loops

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        await self.http.aclose()

    async def _loop(self, queue: str,
                    run: Callable[[TaskRow], Awaitable[dict[str, Any]]]) -> None:
        while True:
            await self.slots.acquire()
            try:
                leased = await self.service.poll(queue, self.worker_id, 1, 5.0)
            except FlowError as exc:
                self.slots.release()
                log.warning("system worker poll failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            if not leased:
                self.slots.release()
                continue
            task = asyncio.create_task(self._execute(leased[0], run))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _execute(self, row: TaskRow,
                       run: Callable[[TaskRow], Awaitable[dict[str, Any]]]) -> None:
        engine = self.service.engine
        try:
            try:
                output = await run(row)
            except TaskFailed as exc:
                await self.service.call(engine.fail, row.id, str(exc), retryable=exc.retryable,
                                        worker_id=self.worker_id)
            else:
                await self.service.call(engine.complete, row.id, output,
                                        worker_id=self.worker_id)
        except FlowError as exc:  # the sweeper will redeliver if the result was lost
            log.warning("system task %s: could not record the result: %s", row.id, exc)
        finally:
            self.slots.release()

    async def _http(self, row: TaskRow) -> dict[str, Any]:
        request = row.input.get("request") or {}
        headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
        headers.setdefault("Idempotency-Key", row.idempotency_key)
        body = request.get("body")
        try:
            response = await self.http.request(
                request.get("method", "GET"), str(request["url"]), headers=headers,
                json=body if body is not None else None,
                timeout=float(request.get("timeout_s", 10.0)))
        except httpx.HTTPError as exc:
            raise TaskFailed(f"{type(exc).__name__}: {exc}", retryable=True) from exc
        try:
            parsed: Any = response.json()
        except ValueError:
            parsed = response.text
        if response.status_code >= 400:
            retryable = response.status_code >= 500 or response.status_code in (408, 429)
            raise TaskFailed(f"HTTP {response.status_code}: {str(parsed)[:500]}", retryable)
        return {"status": response.status_code, "body": parsed,
                "headers": dict(response.headers)}

    async def _event(self, row: TaskRow) -> dict[str, Any]:
        assert self.event_sink is not None
        payload = row.input.get("payload") or {}
        if not isinstance(payload, dict):
            payload = {"value": payload}
        payload = {**payload, "_flow": {"execution_id": row.execution_id, "ref": row.ref,
                                        "idempotency_key": row.idempotency_key}}
        key = row.input.get("key")
        try:
            return await self.event_sink(str(row.input["topic"]),
                                         None if key is None else str(key), payload)
        except FlowError as exc:
            raise TaskFailed(str(exc), retryable=True) from exc

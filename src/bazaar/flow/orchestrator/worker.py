"""The Python worker SDK: register handlers per task name, long-poll, heartbeat, report.

    worker = Worker(FlowClient(url), worker_id="payments-1")

    @worker.task("charge_payment")
    async def charge(task: Task) -> dict:
        return {"charge_id": await provider.charge(task.input, key=task.idempotency_key)}

    await worker.run()

A handler returns the output (a dict); raising :class:`NonRetryableError` fails the task for
good, any other exception fails this attempt (retried per the task's policy). A result is
reported until the orchestrator acknowledges it, so an orchestrator restart loses nothing;
heartbeats keep the lease while the handler runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bazaar.flow.errors import FlowError, LeaseLost, NonRetryableError
from bazaar.flow.orchestrator.client import FlowClient, Task

log = logging.getLogger("bazaar.flow.worker")
Handler = Callable[[Task], Awaitable[dict[str, Any]] | dict[str, Any]]


@dataclass
class _Registration:
    name: str
    handler: Handler
    concurrency: int


class Worker:
    """Runs handlers for one or more task names against an orchestrator."""

    def __init__(self, client: FlowClient, *, worker_id: str | None = None,
                 poll_wait_s: float = 10.0, report_retry_s: float = 0.2,
                 report_retry_max_s: float = 5.0) -> None:
        self.client = client
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.poll_wait_s = poll_wait_s
        self.report_retry_s = report_retry_s
        self.report_retry_max_s = report_retry_max_s
        self._handlers: dict[str, _Registration] = {}
        self.completed = 0
        self.failed = 0
        self._pending: list[dict[str, Any]] = []
        self._have_results = asyncio.Event()

    def task(self, name: str, *, concurrency: int = 8) -> Callable[[Handler], Handler]:
        """Decorator: handle tasks named ``name``, at most ``concurrency`` at once."""
        def register(fn: Handler) -> Handler:
            self.add(name, fn, concurrency=concurrency)
            return fn

        return register

    def add(self, name: str, handler: Handler, *, concurrency: int = 8) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self._handlers[name] = _Registration(name, handler, concurrency)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll every registered task name until ``stop`` is set (or cancelled)."""
        if not self._handlers:
            raise ValueError("no handlers registered")
        stop = stop or asyncio.Event()
        loops = [asyncio.create_task(self._poll_loop(r, stop)) for r in self._handlers.values()]
        reporter = asyncio.create_task(self._reporter())
        try:
            await stop.wait()
        finally:
            for loop in loops:
                loop.cancel()
            for loop in loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
            with contextlib.suppress(asyncio.TimeoutError):  # flush what is finished
                await asyncio.wait_for(self._drain(), timeout=self.report_retry_max_s)
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter

    async def _drain(self) -> None:
        while self._pending:
            await asyncio.sleep(0.01)

    async def _poll_loop(self, reg: _Registration, stop: asyncio.Event) -> None:
        slots = asyncio.Semaphore(reg.concurrency)
        free = reg.concurrency
        running: set[asyncio.Task[None]] = set()
        backoff = self.report_retry_s

        def done(task: asyncio.Task[None]) -> None:
            nonlocal free
            free += 1
            slots.release()
            running.discard(task)

        try:
            while not stop.is_set():
                await slots.acquire()
                slots.release()
                try:
                    leased = await self.client.poll(reg.name, self.worker_id, count=free,
                                                    wait_s=self.poll_wait_s)
                    backoff = self.report_retry_s
                except FlowError as exc:
                    log.debug("poll %s failed: %s", reg.name, exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.report_retry_max_s)
                    continue
                for task in leased:
                    await slots.acquire()
                    free -= 1
                    job = asyncio.create_task(self._execute(reg, task))
                    running.add(job)
                    job.add_done_callback(done)
        finally:
            for job in list(running):
                job.cancel()

    async def _execute(self, reg: _Registration, task: Task) -> None:
        beat = asyncio.create_task(self._heartbeat(task))
        try:
            result = reg.handler(task)
            output = await result if inspect.isawaitable(result) else result
            report: dict[str, Any] = {"status": "COMPLETED", "output": dict(output or {})}
        except NonRetryableError as exc:
            report = {"status": "FAILED", "error": str(exc) or type(exc).__name__,
                      "retryable": False}
        except Exception as exc:  # a handler failure fails the attempt, never the worker
            report = {"status": "FAILED", "error": f"{type(exc).__name__}: {exc}",
                      "retryable": True}
        finally:
            beat.cancel()
        self._pending.append({"task_id": task.id, "worker": self.worker_id, **report})
        self._have_results.set()

    async def _heartbeat(self, task: Task) -> None:
        interval = max(task.lease_s / 3.0, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.client.heartbeat(task.id, self.worker_id)
            except LeaseLost:
                log.info("lease of %s lost; the result will still be offered", task.id)
                return
            except FlowError as exc:
                log.debug("heartbeat %s failed: %s", task.id, exc)

    async def _reporter(self) -> None:
        """Send finished results in batches, until each is acknowledged: an unacknowledged
        result may be redelivered to a worker as the same attempt (same idempotency key)."""
        delay = self.report_retry_s
        while True:
            await self._have_results.wait()
            self._have_results.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                answers = await self.client.report(batch)
            except FlowError as exc:
                log.debug("reporting %d results failed (%s); retrying in %.1fs",
                          len(batch), exc, delay)
                self._pending = batch + self._pending
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.report_retry_max_s)
                self._have_results.set()
                continue
            delay = self.report_retry_s
            for item, answer in zip(batch, answers, strict=True):
                if answer is True or answer is False:  # counted, or a duplicate: either way done
                    if item["status"] == "COMPLETED":
                        self.completed += 1
                    else:
                        self.failed += 1
                elif "no task" not in str(answer):
                    self._pending.append(item)  # e.g. the store was briefly unavailable
            if self._pending:
                self._have_results.set()

"""Run worker handlers against an in-process :class:`Orchestrator`, without HTTP.

Same handler contract as the :class:`~.worker.Worker` SDK (a :class:`Task` in, a dict out,
:class:`NonRetryableError` for final failures), same engine and store: for tests and the lab
where thousands of sagas must run quickly. Each pass polls every queue and runs what it got.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bazaar.flow.errors import NonRetryableError
from bazaar.flow.orchestrator.client import Task
from bazaar.flow.orchestrator.engine import Orchestrator
from bazaar.flow.orchestrator.state import TaskRow
from bazaar.flow.orchestrator.views import task_json

Handler = Callable[[Task], Awaitable[dict[str, Any]] | dict[str, Any]]


class LocalWorker:
    """Polls ``handlers``' queues on ``engine`` directly and reports results."""

    def __init__(self, engine: Orchestrator, handlers: Mapping[str, Handler], *,
                 worker_id: str = "local", batch: int = 64) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.worker_id = worker_id
        self.batch = batch
        self.executed = 0

    async def _run(self, row: TaskRow) -> None:
        task = Task.from_json(task_json(row))
        try:
            result = self.handlers[row.queue](task)
            output = await result if inspect.isawaitable(result) else result
        except NonRetryableError as exc:
            self.engine.fail(row.id, str(exc), retryable=False, worker_id=self.worker_id)
        except Exception as exc:  # an attempt failed; the policy decides
            self.engine.fail(row.id, f"{type(exc).__name__}: {exc}", worker_id=self.worker_id)
        else:
            self.engine.complete(row.id, dict(output or {}), worker_id=self.worker_id)
        self.executed += 1

    async def step(self) -> int:
        """One pass over every queue; returns how many tasks ran."""
        ran = 0
        for queue in self.handlers:
            rows = self.engine.poll(queue, self.worker_id, self.batch)
            await asyncio.gather(*(self._run(row) for row in rows))
            ran += len(rows)
        return ran

    async def run_until(self, done: Callable[[], bool], *, idle_sleep_s: float = 0.01,
                        sweep: bool = True) -> None:
        """Work until ``done()``; sweeps (timers, leases) and naps when idle."""
        while not done():
            if await self.step() == 0:
                if sweep:
                    self.engine.sweep()
                await asyncio.sleep(idle_sleep_s)

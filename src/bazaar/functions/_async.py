"""The async path: Event invocations are queued durably, then pollers invoke them synchronously.

``enqueue`` returns once the event is committed (concurrent enqueues share one fsync: group
commit). Pollers lease batches, invoke them, and settle the batch in one commit. A function
error spends one of ``max_retries`` retries, with exponential backoff; platform trouble (host
lost, no capacity, concurrency throttle) is retried without spending one. An event older than
``max_event_age_s`` or out of retries goes to the dead-letter store, whence it can be redriven.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from bazaar.functions._errors import FunctionsError, ResourceNotFound
from bazaar.functions._model import InvocationResult
from bazaar.functions._queue import DurableQueue, Outcome, QueuedEvent

T = TypeVar("T")
Invoke = Callable[[str, str, bytes, str], Awaitable[InvocationResult]]


@dataclass(frozen=True)
class AsyncPolicy:
    """Retries and pacing of the async path (Lambda's defaults: 2 retries, 6 hours)."""

    max_retries: int = 2
    backoff_s: float = 1.0
    max_event_age_s: float = 6 * 3600
    pollers: int = 4
    batch: int = 16
    lease_s: float = 960.0  # longer than the longest function timeout
    throttle_delay_s: float = 0.2


class AsyncInvoker:
    """Queue + pollers + dead letters, around an ``invoke(name, qualifier, payload, id)``."""

    def __init__(self, queue: DurableQueue, invoke: Invoke, policy: AsyncPolicy) -> None:
        self.queue = queue
        self.policy = policy
        self._invoke = invoke
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="functions-queue")
        self._pending: list[tuple[tuple[str, str, str, bytes] | None, list[Outcome],
                                  asyncio.Future[None]]] = []
        self._writing: asyncio.Task[None] | None = None
        self._leased: set[int] = set()
        self._wake = asyncio.Event()
        self._pollers: list[asyncio.Task[None]] = []
        self.completed = 0
        self.failed = 0

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def start(self) -> None:
        await self._db(self.queue.release_leases)
        self._pollers = [asyncio.create_task(self._poll()) for _ in range(self.policy.pollers)]

    async def stop(self) -> None:
        for task in self._pollers:
            task.cancel()
        for task in self._pollers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._writing is not None:
            with contextlib.suppress(Exception):
                await self._writing
        self._executor.shutdown(wait=True)

    def wake(self) -> None:
        """New events are due (a redrive): stop waiting."""
        self._wake.set()

    async def enqueue(self, function: str, qualifier: str, payload: bytes) -> str:
        """Durably queue one event; return its request id once it is on disk."""
        request_id = str(uuid.uuid4())
        await self._write(row=(request_id, function, qualifier, payload))
        self._wake.set()
        return request_id

    async def _write(self, row: tuple[str, str, str, bytes] | None = None,
                     outcomes: list[Outcome] | None = None) -> None:
        # Group commit: whatever queues up while one commit is being fsync'd goes into the
        # next one, new events and settled events alike.
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, outcomes or [], future))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._writer())
        await future

    async def _writer(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            rows = [row for row, _, _ in batch if row is not None]
            outcomes = [o for _, group, _ in batch for o in group]
            try:
                await self._db(self._commit, rows, outcomes)
            except Exception as exc:
                for _, _, future in batch:
                    future.set_exception(exc)
                continue
            for _, _, future in batch:
                future.set_result(None)

    def _commit(self, rows: list[tuple[str, str, str, bytes]], outcomes: list[Outcome]) -> None:
        self.queue.write_batch(rows, outcomes)
        self._leased.difference_update(o.event.id for o in outcomes)

    def _lease(self, limit: int) -> list[QueuedEvent]:
        # Runs on the queue's one thread, like _commit: the in-flight set needs no lock.
        events = self.queue.due(limit, self._leased)
        self._leased.update(e.id for e in events)
        return events

    async def _poll(self) -> None:
        while True:
            events = await self._db(self._lease, self.policy.batch)
            if not events:
                await self._idle()
                continue
            outcomes = await asyncio.gather(*(self._one(e) for e in events))
            await self._write(outcomes=list(outcomes))
            if any(o.kind == "retry" for o in outcomes):
                self._wake.set()  # idle pollers: a retry changes when the next event is due

    async def _idle(self) -> None:
        self._wake.clear()
        due = await self._db(lambda: self.queue.next_due(self._leased))
        delay = 0.5 if due is None else min(0.5, max(0.005, due - time.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def _one(self, event: QueuedEvent) -> Outcome:
        policy, now = self.policy, time.time()
        if now - event.enqueued_at > policy.max_event_age_s:
            self.failed += 1
            return Outcome(event, "dead", spend_attempt=False, reason="EventAgeExceeded")
        try:
            result = await self._invoke(event.function, event.qualifier, event.payload,
                                        event.request_id)
        except ResourceNotFound as exc:
            self.failed += 1
            return Outcome(event, "dead", spend_attempt=False, reason="FunctionNotFound",
                           error={"errorType": exc.code, "errorMessage": str(exc)})
        except FunctionsError as exc:  # throttled, no capacity, host lost: not its fault
            return Outcome(event, "retry", not_before=now + policy.throttle_delay_s,
                           spend_attempt=False,
                           error={"errorType": exc.code, "errorMessage": str(exc)})
        if result.error is None:
            self.completed += 1
            return Outcome(event, "done")
        error = result.error.to_dict()
        attempts = event.attempts + 1
        if attempts > policy.max_retries:
            self.failed += 1
            return Outcome(event, "dead", reason="RetriesExhausted", error=error)
        delay = policy.backoff_s * 2 ** (attempts - 1)
        return Outcome(event, "retry", not_before=now + delay, error=error)

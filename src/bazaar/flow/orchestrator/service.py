"""The running orchestrator: the engine plus what an HTTP front needs.

The engine is synchronous; :class:`Service` runs it on the event loop (SQLite: one writer,
no thread hops) or on a small thread pool (PostgreSQL), wakes long-polls when tasks become
ready, and runs the sweeper, the system workers and the event listener. The routes over it
are :mod:`.routes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from bazaar.flow.errors import FlowError
from bazaar.flow.orchestrator.engine import Orchestrator

if TYPE_CHECKING:
    from bazaar.flow.orchestrator.events import KafkaEvents
    from bazaar.flow.orchestrator.system import EventSink

log = logging.getLogger("bazaar.flow")
T = TypeVar("T")


@dataclass(frozen=True)
class ApiConfig:
    """How the service runs the engine. ``db_threads`` 0 runs it on the event loop."""

    db_threads: int = 0
    sweep_interval_s: float = 0.5
    max_poll_wait_s: float = 30.0
    recheck_s: float = 0.25
    system_workers: bool = True


class Service:
    """The engine plus what an HTTP front needs: long-poll wake-ups and background loops."""

    def __init__(self, engine: Orchestrator, config: ApiConfig | None = None, *,
                 event_sink: EventSink | None = None, events: KafkaEvents | None = None
                 ) -> None:
        self.engine = engine
        self.events = events
        self.event_sink = event_sink or (events.publish if events is not None else None)
        self.config = config or ApiConfig()
        self._events: dict[str, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limiter = (anyio.CapacityLimiter(self.config.db_threads)
                         if self.config.db_threads else None)
        engine.on_ready = self._ready_threadsafe

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run an engine method: inline on the loop, or on the DB thread pool."""
        if self._limiter is None:
            return fn(*args, **kwargs)
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs),
                                              limiter=self._limiter)

    def _ready_threadsafe(self, queue: str) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._wake, queue)

    def _wake(self, queue: str) -> None:
        event = self._events.pop(queue, None)
        if event is not None:
            event.set()

    async def poll(self, queue: str, worker: str, count: int, wait_s: float) -> list[Any]:
        """Long-poll: return as soon as a task is leased, or empty after ``wait_s``."""
        deadline = time.monotonic() + min(max(wait_s, 0.0), self.config.max_poll_wait_s)
        while True:
            event = self._events.setdefault(queue, asyncio.Event())
            leased = await self.call(self.engine.poll, queue, worker, count)
            remaining = deadline - time.monotonic()
            if leased or remaining <= 0:
                return leased
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, self.config.recheck_s))

    async def sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval_s)
            try:
                await self.call(self.engine.sweep)
            except FlowError as exc:
                log.warning("sweep failed: %s", exc)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Background loops for the lifetime of the app."""
        from bazaar.flow.orchestrator.system import SystemWorkers

        self._loop = asyncio.get_running_loop()
        loops = [asyncio.create_task(self.sweeper())]
        system = SystemWorkers(self) if self.config.system_workers else None
        if system is not None:
            loops += system.start()
        if self.events is not None:
            loops.append(asyncio.create_task(self.events.listen(self)))
        try:
            yield
        finally:
            for task in loops:
                task.cancel()
            for task in loops:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if system is not None:
                await system.close()
            if self.events is not None:
                await self.events.close()

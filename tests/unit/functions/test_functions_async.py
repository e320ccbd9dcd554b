"""The async path: retries with backoff, platform errors retried for free, dead letters."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from bazaar.functions import (
    AsyncInvoker,
    AsyncPolicy,
    DurableQueue,
    ErrorInfo,
    HostLost,
    InvocationResult,
    ResourceNotFound,
    TooManyRequests,
)

FAST = AsyncPolicy(max_retries=2, backoff_s=0.01, pollers=2, batch=4, throttle_delay_s=0.01)


class FakeFunctions:
    """Implements the invoke port: named behaviours, counting calls per request id."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.throttles = 0

    async def invoke(self, name: str, qualifier: str, payload: bytes,
                     request_id: str) -> InvocationResult:
        self.calls[request_id] += 1
        if name == "missing":
            raise ResourceNotFound("no such function")
        if name == "flaky-host" and self.calls[request_id] <= 3:
            raise HostLost("host died")
        if name == "throttled" and self.throttles < 5:
            self.throttles += 1
            raise TooManyRequests("busy")
        error = ErrorInfo("ValueError", "boom") if name == "bad" else None
        return InvocationResult(request_id, name, qualifier, None if error else b"1", error, 1.0)


async def _drain(invoker: AsyncInvoker, queue: DurableQueue, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while queue.depth() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def test_retries_twice_then_dead_letters(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DurableQueue(tmp_path / "q.db")
        fake = FakeFunctions()
        invoker = AsyncInvoker(queue, fake.invoke, FAST)
        await invoker.start()
        bad = await invoker.enqueue("bad", "$LATEST", b"{}")
        good = await asyncio.gather(*(invoker.enqueue("good", "$LATEST", b"{}")
                                      for _ in range(20)))
        await _drain(invoker, queue)
        await invoker.stop()
        assert fake.calls[bad] == 3  # first try + 2 retries
        assert all(fake.calls[r] == 1 for r in good)
        [letter] = queue.dead_letters()
        assert (letter.function, letter.reason, letter.attempts) == ("bad", "RetriesExhausted", 3)
        assert letter.error is not None and letter.error["errorType"] == "ValueError"
        assert invoker.completed == 20
    asyncio.run(main())


def test_platform_errors_do_not_spend_retries(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DurableQueue(tmp_path / "q.db")
        fake = FakeFunctions()
        invoker = AsyncInvoker(queue, fake.invoke, FAST)
        await invoker.start()
        host = await invoker.enqueue("flaky-host", "$LATEST", b"{}")
        throttled = await invoker.enqueue("throttled", "$LATEST", b"{}")
        missing = await invoker.enqueue("missing", "$LATEST", b"{}")
        await _drain(invoker, queue)
        await invoker.stop()
        assert fake.calls[host] == 4 and fake.calls[throttled] == 6
        assert [(d.function, d.reason) for d in queue.dead_letters()] == [
            ("missing", "FunctionNotFound")]
        assert fake.calls[missing] == 1
    asyncio.run(main())


def test_too_old_events_are_dead_lettered_without_running(tmp_path: Path) -> None:
    async def main() -> None:
        queue = DurableQueue(tmp_path / "q.db")
        fake = FakeFunctions()
        queue.put_many([("old", "good", "$LATEST", b"{}")])
        invoker = AsyncInvoker(queue, fake.invoke,
                               AsyncPolicy(max_event_age_s=0.0, backoff_s=0.01))
        await asyncio.sleep(0.01)
        await invoker.start()
        await _drain(invoker, queue)
        await invoker.stop()
        assert fake.calls["old"] == 0
        assert [d.reason for d in queue.dead_letters()] == ["EventAgeExceeded"]
    asyncio.run(main())


def test_queued_events_survive_a_restart(tmp_path: Path) -> None:
    async def first() -> None:
        queue = DurableQueue(tmp_path / "q.db")
        invoker = AsyncInvoker(queue, FakeFunctions().invoke, FAST)  # pollers never started
        await asyncio.gather(*(invoker.enqueue("good", "$LATEST", b"{}") for _ in range(7)))
        queue.close()

    async def second() -> None:
        queue = DurableQueue(tmp_path / "q.db")
        fake = FakeFunctions()
        invoker = AsyncInvoker(queue, fake.invoke, FAST)
        await invoker.start()
        await _drain(invoker, queue)
        await invoker.stop()
        assert sum(fake.calls.values()) == 7
    asyncio.run(first())
    asyncio.run(second())

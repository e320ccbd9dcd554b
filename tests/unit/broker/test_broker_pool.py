"""The request-memory pool: large requests stop at the capacity, small ones may use the
overdraft, and a release retries the waiting connections in the order they blocked."""

from __future__ import annotations

from typing import Any

from bazaar.broker.server import MemoryPool


class Waiter:
    """Stands in for a blocked connection: wants ``size`` bytes when retried."""

    def __init__(self, pool: MemoryPool, size: int, log: list[str], name: str) -> None:
        self.pool, self.size, self.log, self.name = pool, size, log, name

    def retry_grant(self) -> bool:
        granted = self.pool.reserve(self.size)
        self.log.append(f"{self.name}:{'granted' if granted else 'waits'}")
        return granted


def test_large_requests_stop_at_capacity_small_ones_use_the_overdraft() -> None:
    pool = MemoryPool(16 * 1024 * 1024)
    assert pool.overdraft == 1024 * 1024
    assert pool.reserve(16 * 1024 * 1024)
    assert not pool.reserve(100 * 1024)  # large: no room left
    assert pool.reserve(64 * 1024)  # small: the overdraft
    assert pool.used == 16 * 1024 * 1024 + 64 * 1024


def test_a_release_retries_waiters_in_order_and_stops_at_the_first_that_does_not_fit() -> None:
    pool = MemoryPool(1000)
    assert pool.reserve(1000)
    log: list[str] = []
    waiters: list[Any] = [Waiter(pool, 600, log, "a"), Waiter(pool, 300, log, "b"),
                          Waiter(pool, 900, log, "c")]
    for w in waiters:
        pool.waiting[w] = None
    pool.release(1000)
    assert log == ["a:granted", "b:granted", "c:waits"]
    assert list(pool.waiting) == [waiters[2]] and pool.used == 900
    pool.release(900)
    assert log[-1] == "c:granted" and not pool.waiting

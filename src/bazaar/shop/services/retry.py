"""Bounded retries with full-jitter exponential backoff, for conflicts a client may retry."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bazaar.shop.domain import RetryableConflict

T = TypeVar("T")


@dataclass(frozen=True)
class ConflictRetry:
    """How a use case retries a transaction that a concurrent writer won (an optimistic
    version check failed, SQLite was busy): ``attempts`` tries in all; before try n+1 sleep
    uniform(0, min(max, base·2ⁿ)) seconds.

    ``on_retry`` is told about every conflict that is retried (the lab counts them).
    """

    attempts: int = 8
    base_delay_s: float = 0.002
    max_delay_s: float = 0.1
    on_retry: Callable[[RetryableConflict], None] | None = field(default=None, compare=False)
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
            raise ValueError("need 0 <= base_delay_s <= max_delay_s")

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        cap = min(self.max_delay_s, self.base_delay_s * (2 ** retry))
        return (rng or random).uniform(0, cap)

    def run(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` until it returns, or re-raise the last conflict after ``attempts``."""
        for retry in range(self.attempts):
            try:
                return fn()
            except RetryableConflict as exc:
                if retry + 1 >= self.attempts:
                    raise
                if self.on_retry is not None:
                    self.on_retry(exc)
                self.sleep(self.delay(retry))
        raise AssertionError("unreachable")

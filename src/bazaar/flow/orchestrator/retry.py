"""Retry policies: how many attempts a task gets and how long to wait between them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

Backoff = Literal["fixed", "exponential", "jittered"]
_BACKOFFS = ("fixed", "exponential", "jittered")


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff for one task.

    ``max_attempts`` counts the first try (``1`` = never retry; ``None`` = retry until done).
    ``fixed`` waits ``delay_s`` each time; ``exponential`` waits ``delay_s * 2**(n-1)``;
    ``jittered`` draws uniformly in ``[0, exponential]`` ("full jitter"). All are capped at
    ``max_delay_s``.
    """

    max_attempts: int | None = 3
    backoff: Backoff = "exponential"
    delay_s: float = 0.5
    max_delay_s: float = 30.0

    def allows(self, attempt: int) -> bool:
        """Whether another attempt may follow attempt number ``attempt`` (1-based)."""
        return self.max_attempts is None or attempt < self.max_attempts

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before the attempt after ``attempt`` (1-based)."""
        if self.backoff == "fixed":
            base = self.delay_s
        else:
            base = self.delay_s * (2.0 ** min(max(attempt - 1, 0), 60))
        capped = min(base, self.max_delay_s)
        if self.backoff == "jittered":
            return (rng or random).uniform(0.0, capped)
        return capped

    def to_dict(self) -> dict[str, Any]:
        return {"max_attempts": self.max_attempts, "backoff": self.backoff,
                "delay_s": self.delay_s, "max_delay_s": self.max_delay_s}


def parse_retry(raw: object, where: str, problems: list[str],
                default: RetryPolicy) -> RetryPolicy:
    """Read a ``retry`` block, appending problems instead of raising (validation collects all)."""
    if raw is None:
        return default
    if not isinstance(raw, dict):
        problems.append(f"{where}.retry must be an object")
        return default
    unknown = set(raw) - {"max_attempts", "backoff", "delay_s", "max_delay_s"}
    if unknown:
        problems.append(f"{where}.retry has unknown keys {sorted(unknown)}")
    max_attempts = raw.get("max_attempts", default.max_attempts)
    if max_attempts is not None and (not isinstance(max_attempts, int)
                                     or isinstance(max_attempts, bool) or max_attempts < 1):
        problems.append(f"{where}.retry.max_attempts must be an integer >= 1 or null")
        max_attempts = default.max_attempts
    backoff = raw.get("backoff", default.backoff)
    if backoff not in _BACKOFFS:
        problems.append(f"{where}.retry.backoff must be one of {list(_BACKOFFS)}")
        backoff = default.backoff
    numbers: dict[str, float] = {}
    for key in ("delay_s", "max_delay_s"):
        value = raw.get(key, getattr(default, key))
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            problems.append(f"{where}.retry.{key} must be a number >= 0")
            value = getattr(default, key)
        numbers[key] = float(value)
    return RetryPolicy(max_attempts=max_attempts, backoff=backoff,
                       delay_s=numbers["delay_s"], max_delay_s=numbers["max_delay_s"])

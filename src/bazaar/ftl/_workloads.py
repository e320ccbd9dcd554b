"""Host workloads: requests of (operation, first logical page, page count, arrival time).

Synthetic ones (sequential, uniform random, hot/cold) are deterministic from a seed; block
traces become workloads through :mod:`bazaar.ftl._traces`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from bazaar.ftl._errors import FtlConfigError

READ, WRITE, TRIM = 0, 1, 2
Op = Literal["read", "write", "trim"]
_OPS = {"read": READ, "write": WRITE, "trim": TRIM}


@dataclass(frozen=True)
class Workload:
    """A list of host requests. ``arrivals`` (seconds) replays a trace's timing (open loop);
    ``None`` issues each request as soon as a queue slot frees (closed loop)."""

    name: str
    ops: npt.NDArray[np.int8]
    first: npt.NDArray[np.int64]
    count: npt.NDArray[np.int64]
    arrivals: npt.NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        n = self.ops.size
        if self.first.size != n or self.count.size != n or (
                self.arrivals is not None and self.arrivals.size != n):
            raise FtlConfigError("workload arrays differ in length")
        if n and (int(self.count.min()) < 1 or int(self.first.min()) < 0):
            raise FtlConfigError("every request needs a first page >= 0 and >= 1 page")

    def __len__(self) -> int:
        return int(self.ops.size)

    @property
    def pages(self) -> int:
        """Pages moved by reads and writes (trims move none)."""
        return int(self.count[self.ops != TRIM].sum())

    def fit(self, logical_pages: int) -> Workload:
        """Requests wrapped into a device of ``logical_pages`` (a trace from a bigger disk)."""
        count = np.minimum(self.count, logical_pages)
        first = self.first % logical_pages
        first = np.where(first + count > logical_pages, logical_pages - count, first)
        return Workload(self.name, self.ops, first, count, self.arrivals)


def _op(op: Op) -> int:
    if op not in _OPS:
        raise FtlConfigError(f"operation must be one of {sorted(_OPS)}, got {op!r}")
    return _OPS[op]


def _check(requests: int, request_pages: int, logical_pages: int) -> None:
    if requests < 1 or request_pages < 1 or logical_pages < request_pages:
        raise FtlConfigError(f"need >= 1 request of 1..{logical_pages} pages, got {requests} "
                             f"x {request_pages}")


def sequential(op: Op, requests: int, request_pages: int, logical_pages: int,
               start: int = 0) -> Workload:
    """Back-to-back requests from ``start``, wrapping at the end of the device."""
    _check(requests, request_pages, logical_pages)
    per_lap = logical_pages // request_pages
    idx = np.arange(requests, dtype=np.int64) % per_lap
    first = (start + idx * request_pages) % (per_lap * request_pages)
    return Workload(f"sequential {op}", np.full(requests, _op(op), dtype=np.int8), first,
                    np.full(requests, request_pages, dtype=np.int64))


def uniform_random(op: Op, requests: int, request_pages: int, logical_pages: int,
                   seed: int = 0) -> Workload:
    """Requests aligned to their size, at uniformly random places."""
    _check(requests, request_pages, logical_pages)
    slots = logical_pages // request_pages
    first = np.random.default_rng(seed).integers(0, slots, requests) * request_pages
    return Workload(f"random {op}", np.full(requests, _op(op), dtype=np.int8),
                    first.astype(np.int64), np.full(requests, request_pages, dtype=np.int64))


def hot_cold(requests: int, logical_pages: int, hot_data: float = 0.1,
             hot_writes: float = 0.9, seed: int = 0) -> Workload:
    """One-page writes: a fraction ``hot_writes`` of them to the first ``hot_data`` of space."""
    _check(requests, 1, logical_pages)
    if not (0 < hot_data < 1 and 0 < hot_writes < 1):
        raise FtlConfigError("hot_data and hot_writes must be in (0, 1)")
    rng = np.random.default_rng(seed)
    hot_pages = max(1, int(logical_pages * hot_data))
    is_hot = rng.random(requests) < hot_writes
    first = np.where(is_hot, rng.integers(0, hot_pages, requests),
                     rng.integers(hot_pages, logical_pages, requests))
    return Workload(f"hot/cold {hot_writes:.0%} of writes to {hot_data:.0%} of data",
                    np.full(requests, WRITE, dtype=np.int8), first.astype(np.int64),
                    np.ones(requests, dtype=np.int64))


def bursty(op: Op, bursts: int, burst: int, gap_s: float, logical_pages: int,
           seed: int = 0) -> Workload:
    """``bursts`` bursts of ``burst`` one-page requests at random places, one burst every
    ``gap_s`` seconds from ``gap_s`` on (open loop): the idle time between them is what
    background GC uses."""
    _check(bursts * burst, 1, logical_pages)
    if not 0 < gap_s < 1e6:
        raise FtlConfigError(f"gap must be in (0, 1e6) seconds, got {gap_s}")
    n = bursts * burst
    first = np.random.default_rng(seed).integers(0, logical_pages, n).astype(np.int64)
    # The first burst also comes after a gap: a drive is rarely busy from its first moment.
    arrivals = np.repeat(np.arange(1, bursts + 1, dtype=np.float64) * gap_s, burst)
    return Workload(f"bursts of {burst} {op}s every {gap_s:g} s",
                    np.full(n, _op(op), dtype=np.int8), first, np.ones(n, dtype=np.int64),
                    arrivals)

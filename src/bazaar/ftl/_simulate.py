"""Whole runs: drive a device to steady state, or replay a workload on the SSD and the HDD."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bazaar.ftl._closed_form import wa_greedy, wa_lrw
from bazaar.ftl._config import DeviceConfig
from bazaar.ftl._engine import PageMappedFtl
from bazaar.ftl._errors import FtlConfigError
from bazaar.ftl._hdd import HddModel
from bazaar.ftl._result import RunResult
from bazaar.ftl._timing import SsdModel
from bazaar.ftl._workloads import Workload

Progress = Callable[[float], None]


@dataclass(frozen=True)
class SteadyState:
    """Write amplification once the device is full of random data (measured after warm-up)."""

    device: str
    gc_policy: str
    logical_pages: int
    physical_pages: int
    spare_factor: float
    effective_spare_factor: float
    pages_per_erase_unit: int
    device_fills: float
    host_writes: int
    gc_writes: int
    erases: int
    write_amplification: float
    closed_form: float | None
    seconds: float
    erase_count_min: int
    erase_count_max: int

    @property
    def pages_per_second(self) -> float:
        """Simulated host page writes per second of wall time (precondition included)."""
        return self.host_writes / self.seconds if self.seconds > 0 else 0.0


def precondition(ftl: PageMappedFtl, fills: float, seed: int = 0,
                 progress: Progress | None = None) -> None:
    """Sequential fill of every logical page, then ``fills`` device-fulls of uniform random
    writes in slices of 1/16 device. Deterministic from ``seed``; it always ends: the device
    config guarantees GC space at any occupancy."""
    lp = ftl.logical_pages
    if not 0 <= fills <= 1000:
        raise FtlConfigError(f"fills must be in 0..1000, got {fills}")
    rng = np.random.default_rng(seed)
    ftl.write(np.arange(lp, dtype=np.int64))
    if progress:
        progress(1.0)
    remaining = int(fills * lp)
    step = max(1, lp // 16)
    while remaining > 0:
        n = min(step, remaining)
        ftl.write(rng.integers(0, lp, n))
        remaining -= n
        if progress:
            progress(n / lp)


def steady_state(config: DeviceConfig, fills: float = 3.0, measure: float = 1.0, seed: int = 0,
                 progress: Progress | None = None) -> SteadyState:
    """Precondition with ``fills`` device-fulls of random writes, then measure over ``measure``
    more; compare with the closed form of the GC policy (greedy: Eq. 12, fifo: LRW)."""
    started = time.perf_counter()
    ftl = PageMappedFtl(config.geometry, config.ftl)
    precondition(ftl, fills, seed, progress)
    ftl.reset_stats()
    lp = ftl.logical_pages
    rng = np.random.default_rng(seed + 1)
    remaining, step = int(measure * lp), max(1, lp // 16)
    while remaining > 0:
        n = min(step, remaining)
        ftl.write(rng.integers(0, lp, n))
        remaining -= n
        if progress:
            progress(n / lp)
    seconds = time.perf_counter() - started
    g, stats, sf = config.geometry, ftl.stats, config.effective_spare_factor
    closed = {"greedy": wa_greedy(sf, g.superblock_pages), "fifo": wa_lrw(sf)}.get(
        config.ftl.gc_policy)
    ec = ftl.erase_counts
    return SteadyState(config.name, config.ftl.gc_policy, lp, g.physical_pages, g.spare_factor,
                       sf, g.superblock_pages, 1 + fills + measure, stats.host_writes,
                       stats.gc_writes + stats.wl_writes, stats.erases,
                       stats.write_amplification, closed, seconds, int(ec.min()), int(ec.max()))


def replay(config: DeviceConfig, workload: Workload, queue_depth: int = 1,
           fills: float | None = None, hdd: bool = True,
           progress: Progress | None = None) -> tuple[RunResult, RunResult | None]:
    """Time ``workload`` on the SSD and on the HDD baseline of the same capacity.

    ``fills`` None: a fresh (empty) SSD, so reads of unwritten pages never reach flash;
    0: a sequential fill first; more: the fill plus that many device-fulls of random writes.
    """
    ssd = SsdModel(config)
    if fills is not None:
        precondition(ssd.ftl, fills, progress=progress)
    n = max(1, len(workload))
    ssd_result = ssd.run(workload, queue_depth,
                         progress=(lambda k: progress(k / n)) if progress else None)
    hdd_result = None
    if hdd:
        disk = HddModel(config.hdd, config.geometry.logical_pages, config.geometry.page_size)
        hdd_result = disk.run(workload, queue_depth)
    return ssd_result, hdd_result

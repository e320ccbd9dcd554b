"""The SSD's clock: host interface → controller (write buffer in RAM) → channels → dies.

Each flash operation the FTL logs is placed on its resources in order (list scheduling):
a page program needs its channel for the transfer (page size / channel rate) and then its plane
for ``program_us``; a read needs the plane for ``read_us`` and then the channel; an erase
holds every plane of the erase unit for ``erase_us``. Host transfers share one link
(``host_mb_s``). Writes complete once their pages sit in the write buffer; a full buffer waits
for the oldest program to finish, which is how garbage collection shows up in the latency tail.
With ``write_buffer_pages = 0`` writes complete when programmed, GC included. With
``idle_gc_units`` > 0, gaps of at least ``idle_us`` without flash work are used for background
GC (unit by unit, while it fits before the next request), so bursts find free units ready.

The mapping table lives in the controller's RAM. With ``map_cache_entries`` > 0 only that many
entries fit (DFTL-style): the map is kept in flash as translation pages of page_size / 4
entries, the RAM caches the least recently used ones, a miss reads its translation page from
flash before the data, and evicting a changed one programs it back. Translation pages are timed
on the units they hash to but kept outside the data space (they do not count in WA).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from bazaar.ftl._config import DeviceConfig
from bazaar.ftl._engine import ERASE, GC_PROGRAM, GC_READ, HOST_PROGRAM, HOST_READ, PageMappedFtl
from bazaar.ftl._result import RunResult, summarize
from bazaar.ftl._workloads import READ, TRIM, Workload


class SsdModel:
    """A simulated SSD: the FTL plus its timing. Reuse one model across runs to keep its state
    (e.g. precondition with :meth:`PageMappedFtl.write`, then time a workload)."""

    def __init__(self, config: DeviceConfig, ftl: PageMappedFtl | None = None) -> None:
        self.config = config
        self.ftl = ftl or PageMappedFtl(config.geometry, config.ftl)
        g, t = config.geometry, config.timing
        self._units, self._channels, self._sp = g.units, g.channels, g.superblock_pages
        self._xfer = g.page_size / t.channel_mb_s          # µs per page on a channel (B/µs = MB/s)
        self._host = g.page_size / t.host_mb_s
        self._unit_free = [0.0] * g.units
        self._chan_free = [0.0] * g.channels
        self._host_free = 0.0
        self._buffer = [0.0] * t.write_buffer_pages        # program-done time per buffer slot
        self._slot = 0
        self._per_tpage = max(1, g.page_size // 4)
        self._map_slots = (max(1, t.map_cache_entries // self._per_tpage)
                           if t.map_cache_entries else 0)
        self._map: OrderedDict[int, bool] = OrderedDict()   # translation page -> dirty
        self._misses = 0
        self.now = 0.0

    def run(self, workload: Workload, queue_depth: int = 1,
            progress: Callable[[int], None] | None = None) -> RunResult:
        """Time ``workload`` from the device's current state; ``progress(n)`` per 1024 requests."""
        if queue_depth < 1:
            raise ValueError("queue depth must be >= 1")
        t_cfg = self.config.timing
        workload = workload.fit(self.ftl.logical_pages)
        before, misses = self.ftl.stats, self._misses
        self.ftl.record_ops()
        start = self.now
        outstanding: list[float] = []
        latencies = np.zeros(len(workload))
        ops, firsts, counts = (workload.ops.tolist(), workload.first.tolist(),
                               workload.count.tolist())
        arrivals = (None if workload.arrivals is None
                    else (workload.arrivals * 1e6 + start).tolist())
        end = start
        idle_gc = self.config.ftl.idle_gc_units > 0
        try:
            for i in range(len(ops)):
                issue = start if arrivals is None else arrivals[i]
                if len(outstanding) >= queue_depth:
                    issue = max(issue, heapq.heappop(outstanding))
                if idle_gc:
                    self._idle_gc(issue)
                t = issue + t_cfg.controller_us
                lpns = np.arange(firsts[i], firsts[i] + counts[i], dtype=np.int64)
                if ops[i] == TRIM:
                    self.ftl.trim(lpns)
                    self.ftl.take_ops()
                    done = t
                elif ops[i] == READ:
                    done = self._read(lpns, t)
                else:
                    done = self._write(lpns, t)
                heapq.heappush(outstanding, done)
                latencies[i] = done - issue
                end = max(end, done)
                if progress is not None and (i + 1) % 1024 == 0:
                    progress(1024)
        finally:
            self.ftl.record_ops(False)
        if progress is not None and len(ops) % 1024:
            progress(len(ops) % 1024)
        self.now = end
        after = self.ftl.stats
        host = after.host_writes - before.host_writes
        moved = (after.gc_writes + after.wl_writes) - (before.gc_writes + before.wl_writes)
        return summarize(f"ssd {self.config.name}", workload.name, queue_depth,
                         workload.pages * self.config.geometry.page_size, start, end, latencies,
                         write_amplification=(host + moved) / host if host else 1.0,
                         gc_writes=moved, erases=after.erases - before.erases,
                         map_misses=self._misses - misses)

    def _translate(self, lpns: np.ndarray, t: float, dirty: bool) -> float:
        """When the mapping entries of ``lpns`` are usable (reading missed ones from flash)."""
        if not self._map_slots:
            return t
        ready = t
        for tpage in np.unique(lpns // self._per_tpage).tolist():
            if tpage in self._map:
                self._map.move_to_end(tpage)
                self._map[tpage] = self._map[tpage] or dirty
                continue
            self._misses += 1
            ready = max(ready, self._flash_reads(np.array([tpage]), t))
            self._map[tpage] = dirty
            if len(self._map) > self._map_slots:
                evicted, was_dirty = self._map.popitem(last=False)
                if was_dirty:
                    self._flash_programs(np.array([evicted]), t)
        return ready

    def _read(self, lpns: np.ndarray, t: float) -> float:
        t = self._translate(lpns, t, dirty=False)
        self.ftl.read(lpns)
        done = t
        for _, ppns in self.ftl.take_ops():
            done = max(done, self._flash_reads(ppns, t))
        # Unmapped pages are zeros from the controller: only the host transfer.
        self._host_free = max(self._host_free, done) + self._host * lpns.size
        return self._host_free

    def _write(self, lpns: np.ndarray, t: float) -> float:
        t = self._translate(lpns, t, dirty=True)
        self._host_free = max(self._host_free, t) + self._host * lpns.size
        ready = self._host_free
        self.ftl.write(lpns)
        acked, gc_ready, programmed = ready, ready, ready
        buffered = bool(self._buffer)
        ops = self.ftl.take_ops()
        for kind, ppns in ops:
            if kind == HOST_PROGRAM:
                for done in self._flash_programs(ppns, ready):
                    programmed = max(programmed, done)
                    if buffered:
                        acked = max(acked, self._buffer[self._slot])
                        self._buffer[self._slot] = done
                        self._slot = (self._slot + 1) % len(self._buffer)
            elif kind == GC_READ:
                gc_ready = self._flash_reads(ppns, ready)
            elif kind == GC_PROGRAM:
                programmed = max(programmed, *self._flash_programs(ppns, gc_ready))
            elif kind == ERASE:
                programmed = max(programmed, self._erase(int(ppns[0]), gc_ready))
            elif kind == HOST_READ:  # pragma: no cover - writes log no reads
                raise AssertionError("a write logged a host read")
        return acked if buffered else programmed

    def _idle_gc(self, until: float) -> None:
        """Background GC in an idle gap: collect unit by unit while the flash would still be
        done before ``until`` (the next request)."""
        idle_us = self.config.timing.idle_us
        while True:
            busy = max(max(self._unit_free), max(self._chan_free))
            if until - busy < idle_us or not self.ftl.collect_idle():
                return
            gc_ready = busy
            for kind, ppns in self.ftl.take_ops():
                if kind == GC_READ:
                    gc_ready = self._flash_reads(ppns, busy)
                elif kind == GC_PROGRAM:
                    self._flash_programs(ppns, gc_ready)
                elif kind == ERASE:
                    self._erase(int(ppns[0]), gc_ready)

    def _flash_programs(self, ppns: np.ndarray, ready: float) -> list[float]:
        prog = self.config.timing.program_us
        units = ((ppns % self._sp) % self._units).tolist()
        out = []
        unit_free, chan_free, channels, xfer = (self._unit_free, self._chan_free,
                                                self._channels, self._xfer)
        for u in units:
            c = u % channels
            x_end = max(ready, chan_free[c]) + xfer
            chan_free[c] = x_end
            p_end = max(x_end, unit_free[u]) + prog
            unit_free[u] = p_end
            out.append(p_end)
        return out

    def _flash_reads(self, ppns: np.ndarray, ready: float) -> float:
        sense = self.config.timing.read_us
        unit_free, chan_free, channels, xfer = (self._unit_free, self._chan_free,
                                                self._channels, self._xfer)
        done = ready
        for u in ((ppns % self._sp) % self._units).tolist():
            c = u % channels
            s_end = max(ready, unit_free[u]) + sense
            x_end = max(s_end, chan_free[c]) + xfer
            chan_free[c] = x_end
            unit_free[u] = x_end
            done = max(done, x_end)
        return done

    def _erase(self, first_ppn: int, ready: float) -> float:
        del first_ppn  # a superblock spans every unit: all of them erase
        erase = self.config.timing.erase_us
        done = ready
        for u in range(self._units):
            self._unit_free[u] = max(ready, self._unit_free[u]) + erase
            done = max(done, self._unit_free[u])
        return done

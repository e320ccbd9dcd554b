"""The baseline: a hard disk with one head. Seek (square-root law from track-to-track to full
stroke) + rotational wait (the platter's real angle at that moment) + media transfer; a request
that starts where the last one ended streams with neither. Requests are served in order (no
command queueing), so queue depth does not help it."""

from __future__ import annotations

import heapq
import math

import numpy as np

from bazaar.ftl._config import HddConfig
from bazaar.ftl._result import RunResult, summarize
from bazaar.ftl._workloads import TRIM, Workload


class HddModel:
    """A disk of ``capacity_pages`` pages of ``page_size`` bytes described by ``config``."""

    def __init__(self, config: HddConfig, capacity_pages: int, page_size: int = 4096) -> None:
        self.config, self.capacity_pages, self.page_size = config, capacity_pages, page_size
        self._rev_us = 60e6 / config.rpm
        self._tracks = max(1, capacity_pages * page_size // config.track_bytes)
        self._track = 0
        self._next_byte = -1
        self.now = 0.0

    def _seek_us(self, distance: int) -> float:
        c = self.config
        if distance == 0:
            return 0.0
        frac = math.sqrt(min(1.0, distance / self._tracks))
        return 1e3 * (c.track_to_track_ms + (c.full_stroke_ms - c.track_to_track_ms) * frac)

    def service_us(self, offset: int, size: int, t: float) -> float:
        """Time to serve ``size`` bytes at byte ``offset`` starting at time ``t`` (µs)."""
        c = self.config
        position = 0.0
        if offset != self._next_byte:
            track = offset // c.track_bytes
            position = self._seek_us(abs(track - self._track))
            angle = ((t + position) / self._rev_us) % 1.0
            target = (offset % c.track_bytes) / c.track_bytes
            position += ((target - angle) % 1.0) * self._rev_us
        transfer = size / c.media_mb_s
        self._next_byte = offset + size
        self._track = (offset + size - 1) // c.track_bytes
        return position + transfer

    def run(self, workload: Workload, queue_depth: int = 1) -> RunResult:
        workload = workload.fit(self.capacity_pages)
        start = self.now
        free = start
        outstanding: list[float] = []
        latencies = np.zeros(len(workload))
        arrivals = (None if workload.arrivals is None
                    else (workload.arrivals * 1e6 + start).tolist())
        ops, firsts, counts = (workload.ops.tolist(), workload.first.tolist(),
                               workload.count.tolist())
        for i in range(len(ops)):
            issue = start if arrivals is None else arrivals[i]
            if len(outstanding) >= queue_depth:
                issue = max(issue, heapq.heappop(outstanding))
            begin = max(issue, free)
            if ops[i] == TRIM:
                done = begin
            else:
                done = begin + self.service_us(firsts[i] * self.page_size,
                                               counts[i] * self.page_size, begin)
            free = done
            heapq.heappush(outstanding, done)
            latencies[i] = done - issue
        self.now = free
        return summarize("hdd", workload.name, queue_depth, workload.pages * self.page_size,
                         start, free, latencies)

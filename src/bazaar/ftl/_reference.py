"""The same FTL one page at a time in plain Python: the yardstick for :class:`PageMappedFtl`.

Obviously correct rather than fast: the tests require both engines to end in identical maps,
erase counts and counters, and ``bench/bench_ftl.py`` measures how much faster the numpy engine
is. Same policies, same tie-breaking (lowest unit number first).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from bazaar.ftl._config import FtlOptions, Geometry, check_spare
from bazaar.ftl._engine import FREE, OPEN, SEALED, FtlStats, as_pages
from bazaar.ftl._errors import OutOfSpaceError


class ReferenceFtl:
    """A page-mapped FTL, per page: ``write``, ``trim``, ``read``, ``stats``, ``erase_counts``."""

    def __init__(self, geometry: Geometry, options: FtlOptions | None = None) -> None:
        self.options = options or FtlOptions()
        check_spare(geometry, self.options)
        self._np, self._s = geometry.superblock_pages, geometry.superblocks
        self.logical_pages = geometry.logical_pages
        self.l2p = [-1] * self.logical_pages
        self.p2l = [-1] * (self._s * self._np)
        self.vc = [0] * self._s
        self.ec = [0] * self._s
        self.state = [FREE] * self._s
        self.sealed_at = [0] * self._s
        self.seal_seq = [0] * self._s
        self.free: deque[int] = deque(range(1, self._s))
        self.cur, self.wptr, self.seq, self.clock = 0, 0, 0, 0
        self.state[0] = OPEN
        self.counts = [0, 0, 0, 0, 0, 0]

    @property
    def stats(self) -> FtlStats:
        return FtlStats(*self.counts)

    @property
    def erase_counts(self) -> list[int]:
        return list(self.ec)

    def write(self, lpns: Any) -> None:
        for lpn in as_pages(lpns, self.logical_pages).tolist():
            if self.wptr == self._np:
                self._advance()
            old = self.l2p[lpn]
            if old >= 0:
                self.p2l[old] = -1
                self.vc[old // self._np] -= 1
            self._put(lpn)
            self.clock += 1
            self.counts[0] += 1

    def read(self, lpns: Any) -> list[int]:
        pages = as_pages(lpns, self.logical_pages).tolist()
        self.counts[4] += len(pages)
        return [self.l2p[p] for p in pages]

    def trim(self, lpns: Any) -> None:
        for lpn in set(as_pages(lpns, self.logical_pages).tolist()):
            old = self.l2p[lpn]
            if old >= 0:
                self.p2l[old] = -1
                self.vc[old // self._np] -= 1
                self.l2p[lpn] = -1
                self.counts[5] += 1

    def _put(self, lpn: int) -> None:
        ppn = self.cur * self._np + self.wptr
        self.l2p[lpn] = ppn
        self.p2l[ppn] = lpn
        self.vc[self.cur] += 1
        self.wptr += 1

    def _pop_free(self) -> int:
        if not self.free:
            raise OutOfSpaceError("no free erase unit left")
        if self.options.wear_leveling == "off":
            return self.free.popleft()
        unit = min(self.free, key=lambda u: (self.ec[u], u))
        self.free.remove(unit)
        return unit

    def _advance_raw(self) -> None:
        self.state[self.cur] = SEALED
        self.sealed_at[self.cur] = self.clock
        self.seal_seq[self.cur] = self.seq
        self.seq += 1
        self.cur = self._pop_free()
        self.state[self.cur] = OPEN
        self.wptr = 0

    def _advance(self) -> None:
        self._advance_raw()
        stuck = 0
        while len(self.free) < self.options.gc_reserve:
            if self._collect(self._victim(), 1) == self._np:
                stuck += 1
                if stuck > 2 * self._s:
                    raise OutOfSpaceError("garbage collection made no progress")
            else:
                stuck = 0
        if self.options.wear_leveling == "static":
            sealed = [u for u in range(self._s) if self.state[u] == SEALED]
            if sealed:
                coldest = min(sealed, key=lambda u: (self.ec[u], u))
                if max(self.ec) - self.ec[coldest] > self.options.wl_threshold:
                    self._collect(coldest, 2)

    def _victim(self) -> int:
        sealed = [u for u in range(self._s) if self.state[u] == SEALED]
        policy = self.options.gc_policy
        if policy == "greedy":
            return min(sealed, key=lambda u: (self.vc[u], u))
        if policy == "fifo":
            return min(sealed, key=lambda u: self.seal_seq[u])

        def score(u: int) -> float:
            if self.vc[u] == 0:
                return float("inf")
            return (self._np - self.vc[u]) * (self.clock - self.sealed_at[u] + 1) / (2 * self.vc[u])

        best = max(score(u) for u in sealed)
        return min(u for u in sealed if score(u) == best)

    def _collect(self, victim: int, counter: int) -> int:
        lo = victim * self._np
        moved = [lpn for lpn in self.p2l[lo:lo + self._np] if lpn >= 0]
        for lpn in moved:
            if self.wptr == self._np:
                self._advance_raw()
            self._put(lpn)
        for ppn in range(lo, lo + self._np):
            self.p2l[ppn] = -1
        self.vc[victim] = 0
        self.ec[victim] += 1
        self.state[victim] = FREE
        self.free.append(victim)
        self.counts[counter] += len(moved)
        self.counts[3] += 1
        return len(moved)

"""The page-mapped FTL: logical → physical map, out-of-place writes, GC, wear levelling, TRIM.

State is a handful of numpy arrays (``l2p``, ``p2l``, per-erase-unit valid counts, erase counts)
and every operation works on whole runs of pages at once: a host write is cut only where the
open erase unit fills, so a 1M-page device runs at numpy speed rather than one Python step per
page. :class:`ReferenceFtl` is the same algorithm one page at a time; the tests hold the two to
identical results.

The erase unit is the geometry's superblock (one block on every plane, see
:class:`~bazaar.ftl.Geometry`); there is one write frontier shared by host and GC writes, as in
Desnoyers' model.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bazaar.ftl._config import FtlOptions, Geometry, check_spare
from bazaar.ftl._errors import AddressError, OutOfSpaceError

Pages = npt.NDArray[np.int64]

FREE, OPEN, SEALED = 0, 1, 2
#: Kinds of flash operation in an operation log (see :meth:`PageMappedFtl.take_ops`).
HOST_READ, HOST_PROGRAM, GC_READ, GC_PROGRAM, ERASE = 0, 1, 2, 3, 4
_BIG = np.iinfo(np.int64).max


@dataclass(frozen=True)
class FtlStats:
    """Counters since the device was made (or since :meth:`PageMappedFtl.reset_stats`)."""

    host_writes: int
    gc_writes: int
    wl_writes: int
    erases: int
    host_reads: int
    trims: int

    @property
    def write_amplification(self) -> float:
        """Flash page programs per host page written (1.0 before any write)."""
        if self.host_writes == 0:
            return 1.0
        return (self.host_writes + self.gc_writes + self.wl_writes) / self.host_writes


def as_pages(lpns: Any, limit: int) -> Pages:
    """``lpns`` as a 1-D int64 array, every value in ``0..limit-1``, or :class:`AddressError`."""
    arr = np.asarray(lpns)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise AddressError(f"logical pages must be a 1-D sequence, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        if arr.dtype == object and all(isinstance(v, int) and not isinstance(v, bool)
                                       for v in arr.tolist()):
            lo, hi = min(arr.tolist()), max(arr.tolist())
            if lo < 0 or hi >= limit:
                raise AddressError(f"logical page {lo if lo < 0 else hi} is outside "
                                   f"0..{limit - 1}")
            return arr.astype(np.int64)
        raise AddressError(f"logical pages must be integers, got {arr.dtype}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= limit:
        raise AddressError(f"logical page {lo if lo < 0 else hi} is outside 0..{limit - 1}")
    return arr.astype(np.int64, copy=False)


class PageMappedFtl:
    """A page-mapped FTL over ``geometry`` with the GC and wear-levelling ``options``."""

    def __init__(self, geometry: Geometry, options: FtlOptions | None = None) -> None:
        options = options or FtlOptions()
        self.geometry, self.options = geometry, options
        s, npg = geometry.superblocks, geometry.superblock_pages
        self._np, self._s = npg, s
        self.logical_pages = geometry.logical_pages
        check_spare(geometry, options)
        self._l2p = np.full(self.logical_pages, -1, dtype=np.int64)
        self._p2l = np.full(s * npg, -1, dtype=np.int64)
        self._stamp = np.zeros(s * npg, dtype=np.int64)   # host write number held by a page
        self._vc = np.zeros(s, dtype=np.int64)
        self._ec = np.zeros(s, dtype=np.int64)
        self._state = np.zeros(s, dtype=np.int8)
        self._sealed_at = np.zeros(s, dtype=np.int64)     # host clock when the unit filled
        self._seal_seq = np.zeros(s, dtype=np.int64)
        self._free: deque[int] = deque(range(1, s))
        self._cur, self._wptr, self._seq = 0, 0, 0
        self._state[0] = OPEN
        self._clock = 0  # host pages written: the age of data for cost-benefit
        self._counts = [0, 0, 0, 0, 0, 0]  # host, gc, wl writes, erases, reads, trims
        self._ops: list[tuple[int, Pages]] | None = None

    # -- the host interface ------------------------------------------------------------------

    def write(self, lpns: Any) -> None:
        """Write the logical pages ``lpns`` in order (out of place; GC runs when needed)."""
        arr = as_pages(lpns, self.logical_pages)
        i, n = 0, arr.size
        while i < n:
            if self._wptr == self._np:
                self._advance()
            take = min(self._np - self._wptr, n - i)
            self._program_host(arr[i:i + take])
            i += take

    def read(self, lpns: Any) -> Pages:
        """Physical pages holding ``lpns`` (-1 for a page never written or trimmed)."""
        arr = as_pages(lpns, self.logical_pages)
        ppns = self._l2p[arr]
        self._counts[4] += arr.size
        if self._ops is not None:
            self._ops.append((HOST_READ, ppns[ppns >= 0]))
        return ppns

    def trim(self, lpns: Any) -> None:
        """Forget ``lpns`` (ATA TRIM / NVMe deallocate): their pages become garbage."""
        arr = np.unique(as_pages(lpns, self.logical_pages))
        old = self._l2p[arr]
        mapped = old >= 0
        old = old[mapped]
        self._p2l[old] = -1
        self._vc -= np.bincount(old // self._np, minlength=self._s)
        self._l2p[arr[mapped]] = -1
        self._counts[5] += int(mapped.sum())

    def stamps(self, lpns: Any) -> Pages:
        """For each of ``lpns``, the number (0, 1, …) of the host write it holds, or -1."""
        ppns = self._l2p[as_pages(lpns, self.logical_pages)]
        return np.where(ppns >= 0, self._stamp[np.maximum(ppns, 0)], -1)

    # -- what the device shows ---------------------------------------------------------------

    @property
    def stats(self) -> FtlStats:
        return FtlStats(*self._counts)

    def reset_stats(self) -> None:
        """Zero the counters (e.g. after preconditioning, to measure steady state)."""
        self._counts = [0, 0, 0, 0, 0, 0]

    @property
    def erase_counts(self) -> Pages:
        """Erase count of every erase unit (a copy)."""
        return self._ec.copy()

    @property
    def valid_counts(self) -> Pages:
        """Valid pages in every erase unit (a copy)."""
        return self._vc.copy()

    def mapping(self) -> tuple[Pages, Pages]:
        """Copies of the logical → physical and physical → logical maps (-1: none)."""
        return self._l2p.copy(), self._p2l.copy()

    def record_ops(self, on: bool = True) -> None:
        """Start (or stop) keeping a log of flash operations for a timing model."""
        self._ops = [] if on else None

    def take_ops(self) -> list[tuple[int, Pages]]:
        """The flash operations since the last call, in order: (kind, physical pages).

        For ``ERASE`` the pages are the first page of each erased unit.
        """
        ops = self._ops or []
        if self._ops is not None:
            self._ops = []
        return ops

    def collect_idle(self) -> bool:
        """One step of background GC: collect one unit if fewer than ``gc_reserve +
        idle_gc_units`` are free and a victim would free space. True if it collected."""
        if len(self._free) >= self.options.gc_reserve + self.options.idle_gc_units:
            return False
        if not (self._state == SEALED).any():
            return False
        victim = self._victim()
        if self._vc[victim] >= self._np:
            return False
        self._collect(victim, 1)
        return True

    # -- internals ---------------------------------------------------------------------------

    def _program_host(self, lpns: Pages) -> None:
        n = lpns.size
        base = self._cur * self._np + self._wptr
        uniq, idx = np.unique(lpns[::-1], return_index=True)
        keep = base + (n - 1 - idx)          # the last write of each page wins
        old = self._l2p[uniq]
        old = old[old >= 0]
        if old.size:
            self._p2l[old] = -1
            self._vc -= np.bincount(old // self._np, minlength=self._s)
        self._l2p[uniq] = keep
        self._p2l[keep] = uniq
        self._stamp[keep] = self._clock + (n - 1 - idx)
        self._vc[self._cur] += uniq.size
        self._wptr += n
        self._clock += n
        self._counts[0] += n
        if self._ops is not None:
            self._ops.append((HOST_PROGRAM, np.arange(base, base + n, dtype=np.int64)))

    def _program_moved(self, lpns: Pages, stamps: Pages) -> None:
        n = lpns.size
        base = self._cur * self._np + self._wptr
        ppns = np.arange(base, base + n, dtype=np.int64)
        self._l2p[lpns] = ppns
        self._p2l[ppns] = lpns
        self._stamp[ppns] = stamps
        self._vc[self._cur] += n
        self._wptr += n
        if self._ops is not None:
            self._ops.append((GC_PROGRAM, ppns))

    def _pop_free(self) -> int:
        if not self._free:
            raise OutOfSpaceError("no free erase unit left")
        if self.options.wear_leveling == "off":
            return self._free.popleft()
        # Dynamic wear levelling: open the least-worn free unit.
        unit = int(np.argmin(np.where(self._state == FREE, self._ec, _BIG)))
        self._free.remove(unit)
        return unit

    def _advance_raw(self) -> None:
        self._state[self._cur] = SEALED
        self._sealed_at[self._cur] = self._clock
        self._seal_seq[self._cur] = self._seq
        self._seq += 1
        self._cur = self._pop_free()
        self._state[self._cur] = OPEN
        self._wptr = 0

    def _advance(self) -> None:
        self._advance_raw()
        stuck = 0
        while len(self._free) < self.options.gc_reserve:
            if self._collect(self._victim(), 1) == self._np:
                stuck += 1
                if stuck > 2 * self._s:
                    raise OutOfSpaceError("garbage collection made no progress")
            else:
                stuck = 0
        if self.options.wear_leveling == "static":
            self._level_wear()

    def _victim(self) -> int:
        sealed = self._state == SEALED
        policy = self.options.gc_policy
        if policy == "greedy":
            return int(np.argmin(np.where(sealed, self._vc, _BIG)))
        if policy == "fifo":
            return int(np.argmin(np.where(sealed, self._seal_seq, _BIG)))
        # cost-benefit (Rosenblum & Ousterhout's LFS cleaner): (1 - u) * age / 2u, age + 1 so
        # a unit filled just now still ranks by how much it frees.
        vc = self._vc.astype(np.float64)
        age = (self._clock - self._sealed_at + 1).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(vc == 0, np.inf, (self._np - vc) * age / (2 * vc))
        return int(np.argmax(np.where(sealed, score, -np.inf)))

    def _collect(self, victim: int, counter: int) -> int:
        """Move ``victim``'s valid pages to the frontier, erase it; return pages moved."""
        lo, hi = victim * self._np, (victim + 1) * self._np
        seg = self._p2l[lo:hi]
        offsets = np.flatnonzero(seg >= 0)
        lpns, stamps = seg[offsets], self._stamp[lo:hi][offsets]
        if self._ops is not None and offsets.size:
            self._ops.append((GC_READ, lo + offsets))
        i, n = 0, lpns.size
        while i < n:
            if self._wptr == self._np:
                self._advance_raw()
            take = min(self._np - self._wptr, n - i)
            self._program_moved(lpns[i:i + take], stamps[i:i + take])
            i += take
        self._p2l[lo:hi] = -1
        self._vc[victim] = 0
        self._ec[victim] += 1
        self._state[victim] = FREE
        self._free.append(victim)
        self._counts[counter] += n
        self._counts[3] += 1
        if self._ops is not None:
            self._ops.append((ERASE, np.array([lo], dtype=np.int64)))
        return n

    def _level_wear(self) -> None:
        # Static wear levelling: when the spread of erase counts passes the threshold, move the
        # data of the least-worn sealed unit (cold data) so that unit rejoins the free pool.
        sealed = self._state == SEALED
        if not sealed.any():
            return
        coldest = int(np.argmin(np.where(sealed, self._ec, _BIG)))
        if int(self._ec.max()) - int(self._ec[coldest]) > self.options.wl_threshold:
            self._collect(coldest, 2)

"""Sparse indexes over one segment: offset → file position, and timestamp → offset.

An entry is added every ``index_interval_bytes`` of log, always at a batch boundary. Both
indexes live in memory as arrays (binary search) and on disk as fixed-size entries appended
beside the segment, so a restart loads them instead of scanning the log.
"""

from __future__ import annotations

import bisect
import os
import struct
from abc import ABC, abstractmethod
from array import array
from pathlib import Path

_OFFSET_ENTRY = struct.Struct(">II")  # relative offset, position
_TIME_ENTRY = struct.Struct(">qI")  # timestamp, relative offset


class _IndexFile(ABC):
    """An append-only file of fixed-size entries mirrored by two parallel in-memory arrays
    (``keys`` searched, ``values`` looked up); the common half of both indexes."""

    entry_size: int

    def __init__(self, path: Path, base_offset: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)

    @abstractmethod
    def _columns(self) -> tuple[array[int], array[int]]:
        """The two parallel columns, in entry order."""

    def reset(self) -> None:
        """Drop every entry, in memory and on disk (recovery rebuilds them)."""
        for column in self._columns():
            del column[:]
        os.ftruncate(self._fd, 0)

    def flush(self) -> None:
        os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class OffsetIndex(_IndexFile):
    """Relative offsets and their byte positions, both increasing."""

    entry_size = _OFFSET_ENTRY.size

    def __init__(self, path: Path, base_offset: int) -> None:
        self.offsets: array[int] = array("q")
        self.positions: array[int] = array("q")
        super().__init__(path, base_offset)

    def _columns(self) -> tuple[array[int], array[int]]:
        return self.offsets, self.positions

    def load(self, segment_size: int) -> bool:
        """Read the entries from disk; False (and empty) if they are not plausible."""
        data = os.pread(self._fd, os.fstat(self._fd).st_size, 0)
        if len(data) % self.entry_size:
            self.reset()
            return False
        last_off = last_pos = -1
        for rel, pos in _OFFSET_ENTRY.iter_unpack(data):
            if (rel <= last_off and last_off >= 0) or pos <= last_pos or pos >= segment_size:
                self.reset()
                return False
            self.offsets.append(self.base_offset + rel)
            self.positions.append(pos)
            last_off, last_pos = rel, pos
        return True

    def append(self, offset: int, position: int) -> None:
        self.offsets.append(offset)
        self.positions.append(position)
        os.write(self._fd, _OFFSET_ENTRY.pack(offset - self.base_offset, position))

    def lookup(self, offset: int) -> tuple[int, int]:
        """The last entry at or before ``offset``: (offset, position); (base, 0) if none."""
        i = bisect.bisect_right(self.offsets, offset) - 1
        if i < 0:
            return self.base_offset, 0
        return self.offsets[i], self.positions[i]

    def boundary_at_or_before(self, position: int) -> int:
        """The largest indexed batch position <= ``position`` (0 if none)."""
        i = bisect.bisect_right(self.positions, position) - 1
        return self.positions[i] if i >= 0 else 0


class TimeIndex(_IndexFile):
    """Max timestamps seen so far, with the offset of the batch that reached each."""

    entry_size = _TIME_ENTRY.size

    def __init__(self, path: Path, base_offset: int) -> None:
        self.timestamps: array[int] = array("q")
        self.offsets: array[int] = array("q")
        super().__init__(path, base_offset)

    def _columns(self) -> tuple[array[int], array[int]]:
        return self.timestamps, self.offsets

    def load(self, next_offset: int) -> bool:
        data = os.pread(self._fd, os.fstat(self._fd).st_size, 0)
        if len(data) % self.entry_size:
            self.reset()
            return False
        for ts, rel in _TIME_ENTRY.iter_unpack(data):
            offset = self.base_offset + rel
            if offset >= next_offset or (self.timestamps and ts <= self.timestamps[-1]):
                self.reset()
                return False
            self.timestamps.append(ts)
            self.offsets.append(offset)
        return True

    @property
    def max_timestamp(self) -> int:
        return self.timestamps[-1] if self.timestamps else -1

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Record ``timestamp`` if it is a new maximum."""
        if timestamp > self.max_timestamp:
            self.timestamps.append(timestamp)
            self.offsets.append(offset)
            os.write(self._fd, _TIME_ENTRY.pack(timestamp, offset - self.base_offset))

    def lookup(self, timestamp: int) -> int:
        """An offset at or before the first batch whose max timestamp >= ``timestamp``."""
        i = bisect.bisect_left(self.timestamps, timestamp) - 1
        return self.offsets[i] if i >= 0 else self.base_offset

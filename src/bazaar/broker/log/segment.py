"""A segment: one log file of whole record batches, starting at ``base_offset``, with its
offset and time indexes. Files are named after the base offset, as Kafka names them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bazaar.broker.log import batch
from bazaar.broker.log.index import OffsetIndex, TimeIndex
from bazaar.broker.log.store import Store


@dataclass(frozen=True)
class Corruption:
    """A batch that failed validation: where, and why."""

    path: Path
    position: int
    reason: str


@dataclass(frozen=True)
class FileRange:
    """Bytes of a segment file to send as they are: the unit of a zero-copy fetch."""

    file: object  # a binary file object with fileno(); typed loosely for sendfile
    fd: int
    position: int
    size: int


def verify_file(path: Path) -> list[Corruption]:
    """Check every batch of a segment file (length, magic, CRC32C), read-only."""
    problems: list[Corruption] = []
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        if len(data) - pos < batch.HEADER_SIZE:
            problems.append(Corruption(path, pos, "torn batch header"))
            break
        header = batch.parse_header(data, pos)
        if header.length < batch.HEADER_SIZE or pos + header.length > len(data):
            problems.append(Corruption(path, pos, "bad batch length"))
            break
        if not batch.check_crc(memoryview(data)[pos:pos + header.length]):
            problems.append(Corruption(path, pos, "CRC32C mismatch"))
        pos += header.length
    return problems


def segment_name(base_offset: int) -> str:
    return f"{base_offset:020d}"


class Segment:
    """Store + offset index + time index for the batches from ``base_offset``."""

    def __init__(self, directory: Path, base_offset: int, index_interval_bytes: int) -> None:
        stem = directory / segment_name(base_offset)
        self.base_offset = base_offset
        self.store = Store(stem.with_suffix(".log"))
        self.index = OffsetIndex(stem.with_suffix(".index"), base_offset)
        self.time_index = TimeIndex(stem.with_suffix(".timeindex"), base_offset)
        self.index_interval_bytes = index_interval_bytes
        self.next_offset = base_offset
        self.created_ms = int(time.time() * 1000)
        self._bytes_since_entry = 0
        self._last_max_ts = -1

    # --- opening ---------------------------------------------------------------------
    def open_sealed(self) -> None:
        """Open a segment that is not the active one: trust its indexes if they load."""
        if (not self.index.load(self.store.size) or (self.store.size and not self.index.offsets)
                or not self._last_batch_from_index()):  # no entry at 0: the index was lost
            self.recover()
            return
        if not self.time_index.load(self.next_offset):
            self.recover()
            return
        self._last_max_ts = max(self._last_max_ts, self.time_index.max_timestamp)
        self._bytes_since_entry = self.store.size - self.index.boundary_at_or_before(
            self.store.size)

    def _last_batch_from_index(self) -> bool:
        _off, pos = self.index.lookup(2**62)
        last_next = None
        while pos < self.store.size:
            head = self.store.read(pos, batch.HEADER_SIZE)
            if len(head) < batch.HEADER_SIZE:
                return False
            header = batch.parse_header(head)
            if header.length < batch.HEADER_SIZE or pos + header.length > self.store.size:
                return False
            last_next = header.next_offset
            self._last_max_ts = max(self._last_max_ts, header.max_timestamp)
            pos += header.length
        self.next_offset = last_next if last_next is not None else self.base_offset
        self._last_max_ts = max(self._last_max_ts, self.time_index.max_timestamp)
        return True

    def recover(self) -> list[Corruption]:
        """Validate every batch, truncate at the first bad one, rebuild both indexes."""
        self.index.reset()
        self.time_index.reset()
        self._bytes_since_entry = 0
        self.next_offset = self.base_offset
        problems: list[Corruption] = []
        pos = 0
        size = self.store.size
        while pos < size:
            head = self.store.read(pos, batch.HEADER_SIZE)
            reason = ""
            if len(head) < batch.HEADER_SIZE:
                reason = "torn batch header"
            else:
                header = batch.parse_header(head)
                if head[batch.MAGIC_OFFSET] != 2 or header.length < batch.HEADER_SIZE:
                    reason = "bad batch header"
                elif pos + header.length > size:
                    reason = "torn batch (file ends inside it)"
                elif header.base_offset < self.next_offset:
                    reason = "offsets go backwards"
                elif not batch.check_crc(self.store.read(pos, header.length)):
                    reason = "CRC32C mismatch"
            if reason:
                problems.append(Corruption(self.store.path, pos, reason))
                break
            self._index_batch(header, pos)
            self.next_offset = header.next_offset
            pos += header.length
        if pos < size:
            self.store.truncate(pos)
        return problems

    def verify(self) -> list[Corruption]:
        """Check every batch's length and CRC32C without changing anything."""
        problems: list[Corruption] = []
        pos, size = 0, self.store.size
        while pos < size:
            head = self.store.read(pos, batch.HEADER_SIZE)
            if len(head) < batch.HEADER_SIZE:
                problems.append(Corruption(self.store.path, pos, "torn batch header"))
                break
            header = batch.parse_header(head)
            if header.length < batch.HEADER_SIZE or pos + header.length > size:
                problems.append(Corruption(self.store.path, pos, "bad batch length"))
                break
            if not batch.check_crc(self.store.read(pos, header.length)):
                problems.append(Corruption(self.store.path, pos, "CRC32C mismatch"))
            pos += header.length
        return problems

    # --- writing ---------------------------------------------------------------------
    def append(self, records: memoryview, headers: list[batch.BatchHeader],
               base_offset: int) -> None:
        """Append validated ``records`` (batches described by ``headers``) from
        ``base_offset``, rewriting each baseOffset on the way to disk, never the records."""
        parts: list[bytes | memoryview] = []
        entries: list[tuple[int, int, int, int]] = []
        pos = self.store.size
        offset = base_offset
        cursor = 0
        for header in headers:
            parts.append(batch.base_offset_bytes(offset))
            parts.append(records[cursor + 8:cursor + header.length])
            entries.append((offset, pos, header.length, header.max_timestamp))
            pos += header.length
            cursor += header.length
            offset += header.last_offset_delta + 1
        self.store.append(parts)  # indexed only once written: a failed write leaves no entry
        for entry in entries:
            self._index_at(*entry)
        self.next_offset = offset

    def append_verbatim(self, records: memoryview, headers: list[batch.BatchHeader]) -> None:
        """Append whole batches with the base offsets they carry (the cleaner's rewrite of a
        segment, where dropped batches leave gaps between offsets)."""
        pos = self.store.size
        self.store.append([records])
        for header in headers:
            self._index_at(header.base_offset, pos, header.length, header.max_timestamp)
            pos += header.length
        if headers:
            self.next_offset = headers[-1].next_offset

    def _index_batch(self, header: batch.BatchHeader, pos: int) -> None:
        self._index_at(header.base_offset, pos, header.length, header.max_timestamp)

    def _index_at(self, offset: int, pos: int, length: int, max_ts: int) -> None:
        if pos == 0 or self._bytes_since_entry >= self.index_interval_bytes:
            self.index.append(offset, pos)
            self._bytes_since_entry = 0
            if self._last_max_ts > self.time_index.max_timestamp:
                self.time_index.maybe_append(self._last_max_ts, offset)
        self._bytes_since_entry += length
        if max_ts > self._last_max_ts:
            self._last_max_ts = max_ts

    @property
    def max_timestamp(self) -> int:
        return self._last_max_ts

    # --- reading ---------------------------------------------------------------------
    def find_batch(self, offset: int) -> tuple[int, int] | None:
        """(position, base offset) of the batch holding ``offset``, or None if past the end."""
        if offset >= self.next_offset:
            return None
        _off, pos = self.index.lookup(offset)
        size = self.store.size
        while pos < size:
            prefix = self.store.read(pos, batch.PREFIX_SIZE)
            base, length, delta = batch.parse_prefix(prefix)
            if base + delta >= offset:
                return pos, base
            pos += length
        return None

    def range_from(self, position: int, max_bytes: int) -> FileRange:
        """Whole batches from ``position``: at least one, then as many as fit ``max_bytes``."""
        size = self.store.size
        end = position + max_bytes
        if end >= size:
            end = size
        else:
            boundary = self.index.boundary_at_or_before(end)
            if boundary <= position:
                # the first batch alone may exceed max_bytes: clients need it whole (KIP-74)
                prefix = self.store.read(position, batch.PREFIX_SIZE)
                end = position + batch.parse_prefix(prefix)[1]
                end = self._extend(end, position + max_bytes)
            else:
                end = self._extend(boundary, position + max_bytes)
        return FileRange(self.store.reader, self.store.fileno(), position, end - position)

    def _extend(self, pos: int, limit: int) -> int:
        """Walk batch headers from ``pos`` while whole batches still fit before ``limit``."""
        size = self.store.size
        while pos < size:
            prefix = self.store.read(pos, batch.PREFIX_SIZE)
            length = batch.parse_prefix(prefix)[1]
            if pos + length > limit:
                break
            pos += length
        return pos

    def offset_for_timestamp(self, timestamp: int) -> int | None:
        """The base offset of the first batch whose max timestamp >= ``timestamp``."""
        if self._last_max_ts < timestamp:
            return None
        start = self.time_index.lookup(timestamp)
        found = self.find_batch(start)
        pos = found[0] if found else 0
        size = self.store.size
        while pos < size:
            header = batch.parse_header(self.store.read(pos, batch.HEADER_SIZE))
            if header.max_timestamp >= timestamp:
                return header.base_offset
            pos += header.length
        return None

    # --- housekeeping ----------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.store.size

    def flush(self) -> None:
        self.store.flush()

    def close(self) -> None:
        self.store.close()
        self.index.close()
        self.time_index.close()

    def delete(self) -> None:
        self.close()
        for path in (self.store.path, self.index.path, self.time_index.path):
            path.unlink(missing_ok=True)

"""A partition's log: an ordered list of segments, the last one active.

Appends go to the active segment, which rolls over by size or age; retention drops whole
old segments by total size or age; a restart validates the active segment's tail (length
and CRC32C of each batch), truncates a torn or corrupt tail and rebuilds its indexes.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bazaar.broker._config import LogConfig
from bazaar.broker._errors import CorruptRecordError, OffsetOutOfRangeError, StorageError
from bazaar.broker.log import batch
from bazaar.broker.log.producers import ProducerTable
from bazaar.broker.log.segment import Corruption, FileRange, Segment
from bazaar.broker.log.store import sync_directory
from bazaar.broker.log.transactions import AbortedTxn, PartitionTxns

EARLIEST = -2
LATEST = -1
_SNAPSHOT = "producers.snapshot"
_LOG_START = "log-start-offset"
_STAGING = "cleaning"  # the cleaner's rewritten segments before they are swapped in
#: a replaced or deleted segment's files stay open this long: a sendfile may still use them
RETIRED_CLOSE_S = 120.0


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an append landed; ``duplicate`` when an idempotent retry was recognised."""

    base_offset: int
    next_offset: int
    duplicate: bool = False


class Log:
    """One partition's append-only log in ``directory``."""

    def __init__(self, directory: Path, config: LogConfig) -> None:
        self.directory = directory
        self.config = config
        self.producers = ProducerTable()
        self.txns = PartitionTxns()
        self.recovery: list[Corruption] = []
        # set once an fsync of this log failed: the kernel may have dropped the dirty pages
        # and report the next fsync as a success ("fsyncgate"), so nothing here is trusted
        # again until a restart recovers the log from what is really on disk
        self.failed: str | None = None
        self._segments: list[Segment] = []
        self._bases: list[int] = []
        self._retired: list[tuple[float, Segment]] = []
        directory.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(directory / _STAGING, ignore_errors=True)  # a clean cut short by a crash
        self._log_start = self._read_log_start()  # moved up by DeleteRecords
        self._open()
        # what consumers may see: a prefix of the log; records appended to be made durable
        # (acks=all, flush=batch, markers) become visible only once a sync covered them
        self.high_watermark = self.end_offset
        self._unsynced_upto = 0  # end of the last append that waits for a sync

    def _open(self) -> None:
        bases = sorted(int(p.stem) for p in self.directory.glob("*.log") if p.stem.isdigit())
        if not bases:
            bases = [0]
        for i, base in enumerate(bases):
            segment = Segment(self.directory, base, self.config.index_interval_bytes)
            if i == len(bases) - 1:
                self.recovery = segment.recover()
            else:
                segment.open_sealed()
            self._segments.append(segment)
            self._bases.append(base)
        self._rebuild_producers()

    def _rebuild_producers(self) -> None:
        """Producer sequence state: the snapshot taken when the active segment began, then
        the batch headers of the active segment."""
        active = self.active
        snapshot = self.directory / _SNAPSHOT
        try:
            data = json.loads(snapshot.read_text())
            if data["offset"] == active.base_offset:
                self.producers = ProducerTable.from_json(data["producers"])
                self.txns = PartitionTxns.from_json(data.get("txns", {}))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no snapshot (first segment) or a bad one: the active segment still counts
        pos = 0
        while pos < active.size:
            head = active.store.read(pos, batch.HEADER_SIZE + 32)
            header = batch.parse_header(head)
            self._track(header, header.base_offset, head)
            pos += header.length
        self.txns.forget_below(self.start_offset)

    def _track(self, header: batch.BatchHeader, base_offset: int,
               data: bytes | memoryview) -> None:
        """Producer and transaction state after ``header``'s batch landed at base_offset."""
        if header.attributes & batch.CONTROL:
            commit = batch.control_type(data) == batch.COMMIT_MARKER
            self.producers.fence(header.producer_id, header.producer_epoch)
            self.txns.on_marker(header.producer_id, base_offset, commit)
            return
        self.producers.record(header, base_offset)
        if header.attributes & batch.TRANSACTIONAL:
            self.txns.on_data(header.producer_id, base_offset)

    # --- state -------------------------------------------------------------------------
    @property
    def active(self) -> Segment:
        return self._segments[-1]

    @property
    def segments(self) -> list[Segment]:
        return list(self._segments)

    @property
    def start_offset(self) -> int:
        """The first offset still in the log (retention's, or DeleteRecords' if later)."""
        return max(self._segments[0].base_offset, self._log_start)

    def _read_log_start(self) -> int:
        try:
            return int((self.directory / _LOG_START).read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def delete_records(self, before: int) -> int:
        """DeleteRecords: nothing below ``before`` (at most the high watermark) is served any
        more; durable at return; whole segments below it go at the next retention pass.
        Returns the new start offset."""
        if before > self.high_watermark:
            raise OffsetOutOfRangeError(
                f"offset {before} is past the high watermark {self.high_watermark}")
        if before <= self.start_offset:
            return self.start_offset
        tmp = self.directory / (_LOG_START + ".tmp")
        with tmp.open("w") as f:
            f.write(str(before))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / _LOG_START)
        self._log_start = before
        self.txns.forget_below(before)
        return before

    @property
    def end_offset(self) -> int:
        """The next offset to be assigned (the high watermark on a single node)."""
        return self.active.next_offset

    @property
    def last_stable_offset(self) -> int:
        """Where ``read_committed`` consumers stop: the oldest open transaction's start
        (never past the high watermark)."""
        first = self.txns.first_unstable()
        end = self.high_watermark
        return end if first is None or first > end else first

    def aborted_between(self, start: int, end: int) -> list[AbortedTxn]:
        return self.txns.aborted_between(start, end)

    @property
    def size(self) -> int:
        return sum(s.size for s in self._segments)

    # --- writing -----------------------------------------------------------------------
    def append(self, records: bytes | bytearray | memoryview, *,
               await_sync: bool = False) -> AppendResult:
        """Validate ``records`` (RecordBatch v2, one or more batches) and append them.

        Offsets are assigned in place; the record bytes are written exactly as given. With
        ``await_sync`` they stay above the high watermark until :meth:`synced` says a sync
        covered them; else they are visible at once (unless an earlier append still waits).
        Raises :class:`CorruptRecordError`, :class:`UnsupportedFormatError`,
        :class:`SequenceError`, :class:`ProducerFencedError` or (after a failed fsync)
        :class:`StorageError`; nothing is written then.
        """
        if self.failed is not None:
            raise StorageError(f"{self.directory.name} is offline after a failed fsync: "
                               f"{self.failed}")
        view = memoryview(records)
        headers = batch.validate(view)
        idempotent = False
        for h in headers:
            if h.attributes & batch.CONTROL:
                raise CorruptRecordError("control batches are written by the broker only")
            if h.producer_id != batch.NO_PRODUCER_ID:
                idempotent = True
        if not idempotent:
            done = self._write(view, headers)
            self._publish(await_sync)
            return done
        first: AppendResult | None = None
        cursor = 0
        for header in headers:
            piece = view[cursor:cursor + header.length]
            cursor += header.length
            duplicate_at = self.producers.check(header)
            if duplicate_at is not None:
                result = AppendResult(duplicate_at, duplicate_at + header.last_offset_delta + 1,
                                      duplicate=True)
            else:
                result = self._write(piece, [header])
                self._track(header, result.base_offset, piece)
            first = first or result
        assert first is not None
        self._publish(await_sync)
        return first

    def _publish(self, await_sync: bool) -> None:
        if await_sync:
            self._unsynced_upto = self.end_offset
        elif self._unsynced_upto <= self.high_watermark:  # nothing before it waits
            self.high_watermark = self.end_offset

    def synced(self, upto: int) -> None:
        """A sync that began when the log ended at ``upto`` succeeded: what it covered is
        durable, so visible (and so is everything after it that waits for no sync)."""
        if upto >= self._unsynced_upto:
            self.high_watermark = self.end_offset
        elif upto > self.high_watermark:
            self.high_watermark = upto

    def append_marker(self, producer_id: int, producer_epoch: int, commit: bool) -> int:
        """Write a transaction's commit or abort marker; its offset. The coordinator calls
        this; it also fences older epochs of ``producer_id`` here."""
        if self.failed is not None:
            raise StorageError(f"{self.directory.name} is offline after a failed fsync: "
                               f"{self.failed}")
        data = batch.control_batch(producer_id=producer_id, producer_epoch=producer_epoch,
                                   commit=commit, timestamp_ms=int(time.time() * 1000))
        view = memoryview(data)
        header = batch.parse_header(view)
        result = self._write(view, [header])
        self._track(header, result.base_offset, view)
        self._publish(await_sync=True)
        return result.base_offset

    def _write(self, view: memoryview, headers: list[batch.BatchHeader]) -> AppendResult:
        total = len(view)
        try:
            self._maybe_roll(total)
            base = self.active.next_offset
            self.active.append(view, headers, base)
        except OSError as exc:  # disk full or failing: this append is refused, unwritten
            if self.active.store.broken:
                self.failed = str(exc)
            raise StorageError(f"cannot write {self.directory.name}: {exc}") from exc
        return AppendResult(base, self.active.next_offset)

    def _maybe_roll(self, incoming: int) -> None:
        active = self.active
        if active.size == 0:
            return
        too_big = active.size + incoming > self.config.segment_bytes
        too_old = (self.config.segment_ms is not None
                   and time.time() * 1000 - active.created_ms >= self.config.segment_ms)
        if too_big or too_old:
            self.roll()

    def roll(self) -> None:
        """Seal the active segment and start a new one at the end offset."""
        self.active.flush()
        self.active.index.flush()
        self.active.time_index.flush()
        self._snapshot_producers(self.end_offset)
        segment = Segment(self.directory, self.end_offset, self.config.index_interval_bytes)
        segment.recover()
        self._segments.append(segment)
        self._bases.append(segment.base_offset)

    def _snapshot_producers(self, offset: int) -> None:
        """Write the idempotent producers' state as of ``offset`` (atomically, durably)."""
        tmp = self.directory / (_SNAPSHOT + ".tmp")
        with tmp.open("w") as f:
            json.dump({"offset": offset, "producers": self.producers.to_json(),
                       "txns": self.txns.to_json()}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / _SNAPSHOT)

    def flush(self) -> None:
        """fdatasync the active segment (sealed ones were flushed when they rolled)."""
        self.active.flush()

    @property
    def closed(self) -> bool:
        return self.active.store.closed

    # --- reading -----------------------------------------------------------------------
    def read(self, offset: int, max_bytes: int, upto: int | None = None) -> FileRange | None:
        """Whole batches starting with the one that holds ``offset``; None at the end.

        The first batch may begin before ``offset`` (clients skip the records they did not
        ask for) and is returned whole even when larger than ``max_bytes``. With ``upto``
        (the last stable offset) no batch at or past it is included.
        """
        if upto is not None and offset >= upto:
            return None
        if offset < self.start_offset or offset > self.end_offset:
            raise OffsetOutOfRangeError(
                f"offset {offset} outside [{self.start_offset}, {self.end_offset}]")
        i = bisect.bisect_right(self._bases, offset) - 1
        while i < len(self._segments):
            segment = self._segments[i]
            found = segment.find_batch(offset)
            if found is not None:
                got = segment.range_from(found[0], max(max_bytes, 1))
                if upto is not None and upto < segment.next_offset:
                    stop = segment.find_batch(upto)  # upto is a batch's base offset
                    if stop is not None and stop[0] < got.position + got.size:
                        if stop[0] <= got.position:
                            return None
                        got = FileRange(got.file, got.fd, got.position, stop[0] - got.position)
                return got
            i += 1
        return None

    def read_bytes(self, offset: int, max_bytes: int) -> bytes:
        """The bytes :meth:`read` would send (the copying path, and tests)."""
        found = self.read(offset, max_bytes)
        if found is None:
            return b""
        segment = self._segment_by_fd(found.fd)
        return segment.store.read(found.position, found.size)

    def _segment_by_fd(self, fd: int) -> Segment:
        for segment in self._segments + [seg for _t, seg in self._retired]:
            if segment.store.fileno() == fd:
                return segment
        raise OffsetOutOfRangeError("segment was deleted by retention")

    def offset_for(self, timestamp: int) -> int:
        """ListOffsets: EARLIEST, LATEST, or the first batch with max timestamp >= it."""
        if timestamp == EARLIEST:
            return self.start_offset
        if timestamp == LATEST:
            return self.end_offset
        for segment in self._segments:
            found = segment.offset_for_timestamp(timestamp)
            if found is not None:
                return max(found, self.start_offset)
        return self.end_offset

    def find_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """ListOffsets by time: (offset, timestamp) of the first record (in offset order)
        whose timestamp >= ``timestamp``, None if none is. Records in batches compressed
        with a codec we cannot read answer with the batch's base offset and max timestamp."""
        base = self.offset_for(timestamp)
        while base < self.high_watermark:
            data = self.read_bytes(base, 1)  # the whole batch holding ``base``
            if not data:
                return None
            header = batch.parse_header(data)
            if not header.attributes & batch.CONTROL and header.max_timestamp >= timestamp:
                stamps = batch.record_timestamps(data)
                if stamps is None:
                    return header.base_offset, header.max_timestamp
                for offset, ts in stamps:
                    if offset >= base and ts >= timestamp:
                        return offset, ts
            base = header.next_offset
        return None

    # --- housekeeping ------------------------------------------------------------------
    def enforce_retention(self, now_ms: int | None = None) -> int:
        """Delete sealed segments beyond the size or age limits; return how many went."""
        self.close_retired()
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        removed = 0
        total = self.size
        deletes = self.config.deletes  # cleanup.policy=compact alone keeps every segment
        while len(self._segments) > 1:
            oldest = self._segments[0]
            over_size = (deletes and self.config.retention_bytes is not None
                         and total - oldest.size >= self.config.retention_bytes)
            stamp = oldest.max_timestamp if oldest.max_timestamp >= 0 else oldest.created_ms
            over_age = (deletes and self.config.retention_ms is not None
                        and now_ms - stamp > self.config.retention_ms)
            below_start = self._segments[1].base_offset <= self._log_start
            if not (over_size or over_age or below_start):
                break
            total -= oldest.size
            self.txns.forget_below(self._segments[1].base_offset)
            for path in (oldest.store.path, oldest.index.path, oldest.time_index.path):
                path.unlink(missing_ok=True)
            self._retired.append((time.monotonic(), oldest))
            del self._segments[0]
            del self._bases[0]
            removed += 1
        return removed

    def close_retired(self, *, all_of_them: bool = False) -> None:
        """Close replaced or deleted segments once no sendfile can still be using them."""
        now = time.monotonic()
        keep: list[tuple[float, Segment]] = []
        for since, old in self._retired:
            if all_of_them or now - since >= RETIRED_CLOSE_S:
                old.close()
            else:
                keep.append((since, old))
        self._retired = keep

    def replace_segment(self, old: Segment, staged: Path) -> bool:
        """Swap in the cleaner's rewrite of ``old`` (``staged``: the stem of its .log,
        .index and .timeindex, all fsynced). False if ``old`` is no longer in the log.

        Order, for a crash between any two steps: the old indexes go first (a log without
        indexes is re-indexed on start), then one atomic rename switches the .log, then the
        new indexes follow. Every reader sees the old file or the new one, each whole.
        """
        if self.closed or old not in self._segments:
            return False
        i = self._segments.index(old)
        target = self.directory / old.store.path.stem
        for suffix in (".index", ".timeindex"):
            target.with_suffix(suffix).unlink(missing_ok=True)
        empty = staged.with_suffix(".log").stat().st_size == 0
        if empty and i > 0:  # nothing left: the segment goes, its offsets are a gap
            old.store.path.unlink(missing_ok=True)
            for suffix in (".log", ".index", ".timeindex"):
                staged.with_suffix(suffix).unlink(missing_ok=True)
            sync_directory(self.directory)
            del self._segments[i]
            del self._bases[i]
        else:
            os.replace(staged.with_suffix(".log"), target.with_suffix(".log"))
            for suffix in (".index", ".timeindex"):
                os.replace(staged.with_suffix(suffix), target.with_suffix(suffix))
            sync_directory(self.directory)
            fresh = Segment(self.directory, old.base_offset, self.config.index_interval_bytes)
            fresh.open_sealed()
            self._segments[i] = fresh
        self._retired.append((time.monotonic(), old))
        return True

    def verify(self) -> list[Corruption]:
        """Every batch in every segment checked (length, CRC32C); nothing is changed."""
        problems: list[Corruption] = []
        for segment in self._segments:
            problems.extend(segment.verify())
        return problems

    def close(self) -> None:
        self.close_retired(all_of_them=True)
        for segment in self._segments:
            segment.close()

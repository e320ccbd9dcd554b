"""Log compaction (``cleanup.policy=compact``): keep the latest record per key.

Kafka's cleaner, on one node. A log is split at the *cleaner checkpoint* into a clean part
(already compacted) and a dirty part; only sealed segments below the last stable offset are
*cleanable* (the active segment and open transactions never are). A pass runs when the dirty
share of the cleanable bytes exceeds ``min_cleanable_dirty_ratio``, or when a tombstone or
marker kept in the clean part has outlived ``delete_retention_ms``:

1. :func:`plan` (event loop): picks the cleanable segments and opens a file handle of its own
   on each (the segments stay in service; retention may even delete one meanwhile).
2. :func:`execute` (a worker thread): builds the offset map -- key → latest offset -- over
   the dirty part, then rewrites every cleanable segment into ``cleaning/<base>.*``
   (fsynced), keeping a record only if no later offset holds its key. Offsets never change:
   a kept batch keeps its base offset and last offset delta (so a compacted log has gaps),
   its kept records are copied byte for byte, and only the batch header (count, max
   timestamp, CRC32C) is rewritten; a batch that loses nothing is copied whole.
3. :func:`install` (event loop): swaps each rewritten segment in: the old index files are
   removed, then the new ``.log`` replaces the old one with one atomic rename, then the new
   indexes follow. A crash at any point leaves either the old or the new log file, each
   whole; an index found missing is rebuilt on start, ``cleaning/`` is removed on start.
   Readers holding the old file (a sendfile in flight) keep reading the old, intact bytes.

Records that never survive: those without a key (as Kafka), those of aborted transactions,
and tombstones (null value) once ``delete_retention_ms`` passed since they were first
compacted. A transaction marker stays while any record of its transaction does, then, past
the same horizon, goes too. Batches compressed with snappy, lz4 or zstd (no decoder here)
are kept whole and their keys are not compacted; gzip batches are decoded and re-encoded.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import os
import shutil
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from crc32c import crc32c

from bazaar.broker.log import batch
from bazaar.broker.log.segment import Segment

if TYPE_CHECKING:
    from bazaar.broker.log.log import Log

CHECKPOINT = "cleaner.json"
STAGING = "cleaning"
_FLUSH_BYTES = 1 << 20
_WINDOW = 4 << 20


# --- the checkpoint: which offsets are clean, and since when --------------------------------
@dataclass(slots=True)
class CleanRange:
    """Offsets below ``upto`` (and above the previous range's) were first compacted at
    ``cleaned_ms``; ``pending`` while a tombstone or marker in it still waits for its
    horizon."""

    upto: int
    cleaned_ms: int
    pending: bool


@dataclass(slots=True)
class Checkpoint:
    ranges: list[CleanRange] = field(default_factory=list)

    @property
    def clean_upto(self) -> int:
        return self.ranges[-1].upto if self.ranges else 0

    def cleaned_ms(self, offset: int) -> int | None:
        """When ``offset`` was first compacted; None if it is still dirty."""
        i = bisect.bisect_right([r.upto for r in self.ranges], offset)
        return self.ranges[i].cleaned_ms if i < len(self.ranges) else None

    def expired(self, now_ms: int, delete_retention_ms: int) -> bool:
        """A range still holding tombstones or markers whose horizon has passed."""
        return any(r.pending and r.cleaned_ms + delete_retention_ms <= now_ms
                   for r in self.ranges)

    @classmethod
    def load(cls, directory: Path) -> Checkpoint:
        try:
            data = json.loads((directory / CHECKPOINT).read_text())
            return cls([CleanRange(int(u), int(t), bool(p)) for u, t, p in data["ranges"]])
        except (OSError, ValueError, KeyError, TypeError):
            return cls()  # none yet (or unreadable): everything is dirty, which is safe

    def save(self, directory: Path) -> None:
        tmp = directory / (CHECKPOINT + ".tmp")
        with tmp.open("w") as f:
            json.dump({"ranges": [[r.upto, r.cleaned_ms, r.pending] for r in self.ranges]}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / CHECKPOINT)


# --- planning (event loop) ------------------------------------------------------------------
@dataclass
class Source:
    """One cleanable segment, with a read handle of the cleaner's own."""

    segment: Segment
    base: int
    end: int  # the next segment's base: this segment covers [base, end)
    file: BinaryIO
    size: int


@dataclass
class Plan:
    directory: Path
    sources: list[Source]
    dirty_from: int  # index into sources of the first dirty segment (len: none dirty)
    end: int  # cleanable end offset
    log_start: int
    checkpoint: Checkpoint
    aborted: dict[int, list[tuple[int, int]]]  # producer id -> (first, marker) offsets
    now_ms: int
    delete_retention_ms: int
    index_interval_bytes: int
    max_keys: int

    def close(self) -> None:
        for s in self.sources:
            s.file.close()


@dataclass
class Stats:
    """What one pass did."""

    segments: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    records_read: int = 0
    records_kept: int = 0
    seconds: float = 0.0
    clean_upto: int = 0


@dataclass
class Outcome:
    plan: Plan
    replaced: list[tuple[Segment, Path | None]]  # old segment, staged stem (None: unchanged)
    checkpoint: Checkpoint
    stats: Stats


def dirty_ratio(log: Log) -> float:
    """Share of the cleanable bytes not compacted yet (0 when nothing is cleanable)."""
    cleanable = _cleanable(log)
    total = sum(seg.size for seg, _end in cleanable)
    if total == 0:
        return 0.0
    upto = Checkpoint.load(log.directory).clean_upto
    return sum(seg.size for seg, end in cleanable if end > upto) / total


def _cleanable(log: Log) -> list[tuple[Segment, int]]:
    segments = log.segments
    limit = min(log.last_stable_offset, log.high_watermark, log.active.base_offset)
    out: list[tuple[Segment, int]] = []
    for seg, nxt in itertools.pairwise(segments):
        if nxt.base_offset > limit:
            break
        if nxt.base_offset > log.start_offset:
            out.append((seg, nxt.base_offset))
    return out


def plan(log: Log, *, now_ms: int | None = None, max_keys: int = 1_000_000,
         force: bool = False) -> Plan | None:
    """What the next pass over ``log`` would clean; None if it need not run."""
    if not log.config.compact or log.failed is not None or log.closed:
        return None
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    cleanable = _cleanable(log)
    if not cleanable:
        return None
    checkpoint = Checkpoint.load(log.directory)
    total = sum(seg.size for seg, _ in cleanable)
    dirty = sum(seg.size for seg, end in cleanable if end > checkpoint.clean_upto)
    ratio = dirty / total if total else 0.0
    due = dirty > 0 and ratio > log.config.min_cleanable_dirty_ratio
    if not (force or due or checkpoint.expired(now_ms, log.config.delete_retention_ms)):
        return None
    sources: list[Source] = []
    try:
        for seg, end in cleanable:
            handle = open(seg.store.path, "rb")  # noqa: SIM115 - closed by Plan.close
            sources.append(Source(seg, seg.base_offset, end, handle, seg.size))
    except OSError:
        for s in sources:
            s.file.close()
        return None
    dirty_from = next((i for i, s in enumerate(sources) if s.end > checkpoint.clean_upto),
                      len(sources))
    aborted: dict[int, list[tuple[int, int]]] = {}
    for txn in log.txns.aborted:
        aborted.setdefault(txn.producer_id, []).append((txn.first_offset, txn.last_offset))
    return Plan(log.directory, sources, dirty_from, sources[-1].end, log.start_offset,
                checkpoint, aborted, now_ms, log.config.delete_retention_ms,
                log.config.index_interval_bytes, max_keys)


# --- records ---------------------------------------------------------------------------------
@dataclass(slots=True)
class _Record:
    offset: int
    timestamp: int
    key: bytes | None
    tombstone: bool
    raw: memoryview  # the whole record, length prefix included


def _varint(view: memoryview, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def _records(data: memoryview, header: batch.BatchHeader) -> list[_Record] | None:
    """The records of one batch; None if they cannot be read here (codec, or malformed)."""
    codec = header.attributes & 0x07
    body: memoryview
    if codec == 0:
        body = data[batch.HEADER_SIZE:header.length]
    elif codec == 1:
        try:
            body = memoryview(zlib.decompress(bytes(data[batch.HEADER_SIZE:header.length]),
                                              47))
        except zlib.error:
            return None
    else:
        return None
    out: list[_Record] = []
    cur = 0
    try:
        for _ in range(header.records_count):
            length, pos = _varint(body, cur)
            end = pos + length
            ts_delta, pos = _varint(body, pos + 1)
            off_delta, pos = _varint(body, pos)
            klen, pos = _varint(body, pos)
            key = None
            if klen >= 0:
                key = bytes(body[pos:pos + klen])
                pos += klen
            vlen, pos = _varint(body, pos)
            if end > len(body) or length < 0:
                return None
            out.append(_Record(header.base_offset + off_delta, header.base_timestamp + ts_delta,
                               key, vlen < 0, body[cur:end]))
            cur = end
    except IndexError:
        return None
    return out


def _map_key(key: bytes) -> bytes:
    """Keys up to 16 bytes as they are, longer ones as a 16-byte BLAKE2b digest (bounded
    memory per entry; Kafka keys its map by an MD5 of the key the same way)."""
    return key if len(key) <= 16 else b"\xff" + hashlib.blake2b(key, digest_size=16).digest()


def _batches(src: Source) -> Iterator[tuple[batch.BatchHeader, memoryview]]:
    """The whole batches of a segment, read in windows of a few MiB (never all at once)."""
    fd = src.file.fileno()
    pos = 0
    while pos + batch.HEADER_SIZE <= src.size:
        window = memoryview(os.pread(fd, min(_WINDOW, src.size - pos), pos))
        cur = 0
        while cur + batch.HEADER_SIZE <= len(window):
            header = batch.parse_header(window, cur)
            if header.length < batch.HEADER_SIZE:
                return  # not a batch: the segment's recovery would have cut it here
            if cur + header.length > len(window):
                break
            yield header, window[cur:cur + header.length]
            cur += header.length
        if cur == 0:  # one batch larger than the window
            header = batch.parse_header(window)
            if pos + header.length > src.size:
                return
            data = memoryview(os.pread(fd, header.length, pos))
            yield header, data
            cur = header.length
        pos += cur


def _is_aborted(plan: Plan, header: batch.BatchHeader) -> bool:
    if not header.attributes & batch.TRANSACTIONAL or header.attributes & batch.CONTROL:
        return False
    return any(first <= header.base_offset <= last
               for first, last in plan.aborted.get(header.producer_id, ()))


def _rebuild(header: batch.BatchHeader, data: memoryview, kept: list[_Record]) -> bytes:
    """A batch of ``kept`` records with ``data``'s base offset, last offset delta, producer
    fields and attributes; only count, max timestamp and CRC change."""
    body = b"".join(bytes(r.raw) for r in kept)
    if header.attributes & 0x07 == 1:
        packer = zlib.compressobj(wbits=31)
        body = packer.compress(body) + packer.flush()
    max_ts = max(r.timestamp for r in kept)
    after_crc = (bytes(data[21:35]) + struct.pack(">q", max_ts) + bytes(data[43:57])
                 + struct.pack(">i", len(kept)) + body)
    length = 4 + 1 + 4 + len(after_crc)
    return (bytes(data[0:8]) + struct.pack(">i", length) + bytes(data[12:17])
            + struct.pack(">I", crc32c(after_crc)) + after_crc)


# --- the pass (worker thread) ----------------------------------------------------------------
def execute(plan: Plan) -> Outcome:
    """Build the offset map over the dirty part and rewrite every cleanable segment into
    the staging directory. Touches no live object: only the plan's own file handles."""
    started = time.perf_counter()
    stats = Stats()
    offset_map: dict[bytes, int] = {}
    end = plan.end
    dirty = plan.sources[plan.dirty_from:]
    for i, src in enumerate(dirty):
        part: dict[bytes, int] = {}
        for header, data in _batches(src):
            if header.attributes & batch.CONTROL or _is_aborted(plan, header):
                continue
            for rec in _records(data, header) or ():
                if rec.key is not None:
                    part[_map_key(rec.key)] = rec.offset
        if i > 0 and len(offset_map) + len(part) > plan.max_keys:
            end = src.base  # the map is full: the rest stays dirty for the next pass
            break
        offset_map.update(part)
    staging = plan.directory / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    replaced: list[tuple[Segment, Path | None]] = []
    pending_at: list[int] = []  # offsets of kept tombstones and markers
    txn_kept: dict[int, bool] = {}  # producer id -> a record of its open txn survived
    horizon = plan.now_ms - plan.delete_retention_ms
    for src in plan.sources:
        if src.base >= end:
            break
        stats.segments += 1
        stats.bytes_read += src.size
        out = Segment(staging, src.base, plan.index_interval_bytes)
        buffer = bytearray()
        headers: list[batch.BatchHeader] = []
        changed = False
        for header, data in _batches(src):
            keep_whole = False
            kept: list[_Record] = []
            if header.attributes & batch.CONTROL:
                cleaned = plan.checkpoint.cleaned_ms(header.base_offset)
                expired = cleaned is not None and cleaned <= horizon
                if txn_kept.pop(header.producer_id, False) or not expired:
                    keep_whole = True
                    pending_at.append(header.base_offset)
                stats.records_read += 1
            elif _is_aborted(plan, header):
                stats.records_read += header.records_count
            else:
                records = _records(data, header)
                if records is None:  # a codec we cannot read: kept as it is
                    keep_whole = True
                    stats.records_read += header.records_count
                else:
                    stats.records_read += len(records)
                    for rec in records:
                        if rec.key is None or rec.offset < plan.log_start:
                            continue
                        latest = offset_map.get(_map_key(rec.key))
                        if latest is not None and rec.offset < latest:
                            continue
                        if rec.tombstone:
                            cleaned = plan.checkpoint.cleaned_ms(rec.offset)
                            if cleaned is not None and cleaned <= horizon:
                                continue
                            pending_at.append(rec.offset)
                        kept.append(rec)
                    keep_whole = len(kept) == len(records) and len(kept) > 0
                if header.attributes & batch.TRANSACTIONAL and (keep_whole or kept):
                    txn_kept[header.producer_id] = True
            if keep_whole:
                buffer += data
                headers.append(header)
                stats.records_kept += max(header.records_count, 1)
            elif kept:
                piece = _rebuild(header, data, kept)
                buffer += piece
                headers.append(batch.parse_header(piece))
                stats.records_kept += len(kept)
                changed = True
            else:
                changed = True
            if len(buffer) >= _FLUSH_BYTES:
                out.append_verbatim(memoryview(buffer), headers)
                buffer = bytearray()
                headers = []
        if headers:
            out.append_verbatim(memoryview(buffer), headers)
        out.flush()
        out.index.flush()
        out.time_index.flush()
        written = out.size
        out.close()
        if changed:
            stats.bytes_written += written
            replaced.append((src.segment, staging / src.segment.store.path.stem))
        else:
            for path in (out.store.path, out.index.path, out.time_index.path):
                path.unlink(missing_ok=True)
            replaced.append((src.segment, None))
    checkpoint = _next_checkpoint(plan, end, pending_at)
    stats.clean_upto = checkpoint.clean_upto
    stats.seconds = time.perf_counter() - started
    return Outcome(plan, replaced, checkpoint, stats)


def _next_checkpoint(plan: Plan, end: int, pending_at: list[int]) -> Checkpoint:
    old = [r for r in plan.checkpoint.ranges if r.upto > plan.log_start and r.upto <= end]
    ranges = [CleanRange(r.upto, r.cleaned_ms, False) for r in old]
    if end > plan.checkpoint.clean_upto:
        ranges.append(CleanRange(end, plan.now_ms, False))
    uptos = [r.upto for r in ranges]
    for offset in pending_at:
        i = bisect.bisect_right(uptos, offset)
        if i < len(ranges):
            ranges[i].pending = True
    merged: list[CleanRange] = []
    for r in ranges:  # a range with nothing pending needs no time of its own: merge it
        if merged and not merged[-1].pending:
            merged[-1] = CleanRange(r.upto, max(r.cleaned_ms, merged[-1].cleaned_ms),
                                    r.pending)
        else:
            merged.append(r)
    return Checkpoint(merged)


# --- installing (event loop) -----------------------------------------------------------------
def install(log: Log, outcome: Outcome) -> Stats:
    """Swap the rewritten segments into ``log`` (those still there), then save the
    checkpoint. Safe against a crash between any two steps (see the module doc)."""
    plan = outcome.plan
    try:
        if log.closed or log.directory != plan.directory:
            return outcome.stats
        for old, stem in outcome.replaced:
            if stem is not None and not log.replace_segment(old, stem):
                return outcome.stats  # retention or a delete got there first: next pass
        outcome.checkpoint.save(log.directory)
        return outcome.stats
    finally:
        plan.close()
        shutil.rmtree(plan.directory / STAGING, ignore_errors=True)


def clean(log: Log, *, now_ms: int | None = None, max_keys: int = 1_000_000,
          force: bool = False) -> Stats | None:
    """One whole pass in the calling thread (tests and tools); None if none was due."""
    p = plan(log, now_ms=now_ms, max_keys=max_keys, force=force)
    if p is None:
        return None
    try:
        outcome = execute(p)
    except BaseException:
        p.close()
        raise
    return install(log, outcome)

"""RecordBatch v2 framing: the only part of a batch the broker reads.

Layout of the 61-byte header (big-endian)::

    0  baseOffset int64        8  batchLength int32     12 partitionLeaderEpoch int32
    16 magic int8              17 crc uint32            21 attributes int16
    23 lastOffsetDelta int32   27 baseTimestamp int64   35 maxTimestamp int64
    43 producerId int64        51 producerEpoch int16   53 baseSequence int32
    57 recordsCount int32      61 records…

The CRC32C covers byte 21 to the end, so baseOffset and partitionLeaderEpoch can be set in
place without re-checksumming. Records stay opaque (compressed or not): the broker never
decodes or re-encodes them.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from crc32c import crc32c

from bazaar.broker._errors import CorruptRecordError, UnsupportedFormatError

HEADER_SIZE = 61
#: Bytes before batchLength's count starts (baseOffset + batchLength).
LOG_OVERHEAD = 12
#: Enough of the header to find a batch's offsets and size.
PREFIX_SIZE = 27
MAGIC_OFFSET = 16

_HEADER = struct.Struct(">qiibIhiqqqhii")
_PREFIX = struct.Struct(">qiibIhi")
_BASE_OFFSET = struct.Struct(">q")

NO_PRODUCER_ID = -1
#: attributes bits: the batch belongs to a transaction / is a control batch (a marker)
TRANSACTIONAL = 0x10
CONTROL = 0x20
#: control record types (the key's second int16)
ABORT_MARKER = 0
COMMIT_MARKER = 1


@dataclass(frozen=True, slots=True)
class BatchHeader:
    """The fields of a RecordBatch v2 header the broker uses."""

    base_offset: int
    length: int  # whole batch, header included
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int
    attributes: int

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def last_sequence(self) -> int:
        return self.base_sequence + self.last_offset_delta


def parse_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """The header of the batch at ``pos`` (which must hold at least 61 bytes)."""
    (base, length, _epoch, _magic, _crc, attrs, delta, base_ts, max_ts, pid, pepoch, bseq,
     count) = _HEADER.unpack_from(buf, pos)
    return BatchHeader(base, length + LOG_OVERHEAD, delta, base_ts, max_ts, pid, pepoch, bseq,
                       count, attrs)


def parse_prefix(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int, int]:
    """(base offset, whole batch length, last offset delta) from the first 27 bytes."""
    base, length, _epoch, _magic, _crc, _attrs, delta = _PREFIX.unpack_from(buf, pos)
    return base, length + LOG_OVERHEAD, delta


def validate(buf: bytes | bytearray | memoryview) -> list[BatchHeader]:
    """Split ``buf`` into record batches, checking length, magic and CRC32C of each.

    Raises :class:`CorruptRecordError` for anything torn or tampered with, and
    :class:`UnsupportedFormatError` for the old message formats (magic 0 and 1).
    """
    view = memoryview(buf)
    headers: list[BatchHeader] = []
    pos, end = 0, len(view)
    if end == 0:
        raise CorruptRecordError("empty record set")
    while pos < end:
        if end - pos < HEADER_SIZE:
            if end - pos > MAGIC_OFFSET and view[pos + MAGIC_OFFSET] in (0, 1):
                raise UnsupportedFormatError("message format v0/v1 is not supported")
            raise CorruptRecordError(f"truncated batch header at byte {pos}")
        magic = view[pos + MAGIC_OFFSET]
        if magic != 2:
            if magic in (0, 1):
                raise UnsupportedFormatError("message format v0/v1 is not supported")
            raise CorruptRecordError(f"unknown magic {magic} at byte {pos}")
        header = parse_header(view, pos)
        if header.length < HEADER_SIZE or pos + header.length > end:
            raise CorruptRecordError(f"bad batch length {header.length} at byte {pos}")
        if header.last_offset_delta < 0 or header.records_count < 0:
            raise CorruptRecordError(f"negative offset delta or count at byte {pos}")
        crc = struct.unpack_from(">I", view, pos + 17)[0]
        if crc32c(view[pos + 21:pos + header.length]) != crc:
            raise CorruptRecordError(f"CRC32C mismatch in batch at byte {pos}")
        headers.append(header)
        pos += header.length
    return headers


def check_crc(buf: bytes | bytearray | memoryview) -> bool:
    """Whether one whole batch's stored CRC32C matches its bytes."""
    view = memoryview(buf)
    if len(view) < HEADER_SIZE or view[MAGIC_OFFSET] != 2:
        return False
    crc = struct.unpack_from(">I", view, 17)[0]
    return bool(crc32c(view[21:]) == crc)


def base_offset_bytes(offset: int) -> bytes:
    """The 8 bytes that replace a batch's baseOffset when it is appended."""
    return _BASE_OFFSET.pack(offset)


def build(records: Sequence[tuple[bytes | None, bytes | None]], *, base_offset: int = 0,
          timestamp_ms: int = 0, producer_id: int = NO_PRODUCER_ID, producer_epoch: int = -1,
          base_sequence: int = -1, attributes: int = 0) -> bytes:
    """An uncompressed RecordBatch v2 of (key, value) records: for tests and tools.

    Clients build their own batches; the broker never calls this on the produce path.
    """
    body = bytearray()
    for delta, (key, value) in enumerate(records):
        rec = bytearray(b"\x00")  # attributes
        rec += _varint(0)  # timestamp delta
        rec += _varint(delta)
        for part in (key, value):
            if part is None:
                rec += _varint(-1)
            else:
                rec += _varint(len(part)) + part
        rec += _varint(0)  # headers
        body += _varint(len(rec)) + rec
    count = len(records)
    after_crc = struct.pack(">hiqqqhii", attributes, max(count - 1, 0), timestamp_ms,
                            timestamp_ms,
                            producer_id, producer_epoch, base_sequence, count) + bytes(body)
    crc = crc32c(after_crc)
    length = 4 + 1 + 4 + len(after_crc)
    return struct.pack(">qiibI", base_offset, length, -1, 2, crc) + after_crc


def control_batch(*, producer_id: int, producer_epoch: int, commit: bool,
                  timestamp_ms: int, coordinator_epoch: int = 0) -> bytes:
    """A transaction marker: a control batch of one record whose key says commit or abort.

    Key: version int16 (0), type int16 (0 abort, 1 commit); value: version int16 (0),
    coordinator epoch int32 -- Kafka's EndTransactionMarker.
    """
    key = struct.pack(">hh", 0, COMMIT_MARKER if commit else ABORT_MARKER)
    value = struct.pack(">hi", 0, coordinator_epoch)
    rec = bytearray(b"\x00") + _varint(0) + _varint(0)
    rec += _varint(len(key)) + key + _varint(len(value)) + value + _varint(0)
    body = _varint(len(rec)) + bytes(rec)
    after_crc = struct.pack(">hiqqqhii", TRANSACTIONAL | CONTROL, 0, timestamp_ms,
                            timestamp_ms, producer_id, producer_epoch, -1, 1) + body
    length = 4 + 1 + 4 + len(after_crc)
    return struct.pack(">qiibI", 0, length, -1, 2, crc32c(after_crc)) + after_crc


def control_type(buf: bytes | bytearray | memoryview) -> int:
    """A control batch's marker type (ABORT_MARKER or COMMIT_MARKER), from its first record.

    Raises :class:`CorruptRecordError` if the record does not hold a 4-byte control key.
    """
    view = memoryview(buf)
    try:
        _length, cur = _read_varint(view, HEADER_SIZE)
        cur += 1  # attributes
        _ts, cur = _read_varint(view, cur)
        _delta, cur = _read_varint(view, cur)
        n, cur = _read_varint(view, cur)
        if n < 4:
            raise CorruptRecordError("control record without a 4-byte key")
        return int(struct.unpack_from(">h", view, cur + 2)[0])
    except (IndexError, struct.error) as exc:
        raise CorruptRecordError("truncated control record") from exc


def _varint(value: int) -> bytes:
    zigzag = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        byte = zigzag & 0x7F
        zigzag >>= 7
        if zigzag:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_records(buf: bytes | bytearray | memoryview) -> list[tuple[int, bytes | None,
                                                                  bytes | None]]:
    """(offset, key, value) of every record in uncompressed batches: for tests and tools."""
    view = memoryview(buf)
    out: list[tuple[int, bytes | None, bytes | None]] = []
    pos = 0
    while pos + HEADER_SIZE <= len(view):
        header = parse_header(view, pos)
        if header.attributes & 0x07:
            raise UnsupportedFormatError("read_records only reads uncompressed batches")
        cur = pos + HEADER_SIZE
        for _ in range(header.records_count):
            _length, cur = _read_varint(view, cur)
            cur += 1  # attributes
            _ts, cur = _read_varint(view, cur)
            delta, cur = _read_varint(view, cur)
            parts: list[bytes | None] = []
            for _part in range(2):
                n, cur = _read_varint(view, cur)
                if n < 0:
                    parts.append(None)
                else:
                    parts.append(bytes(view[cur:cur + n]))
                    cur += n
            headers, cur = _read_varint(view, cur)
            for _h in range(headers):
                n, cur = _read_varint(view, cur)
                cur += n
                n, cur = _read_varint(view, cur)
                cur += max(n, 0)
            out.append((header.base_offset + delta, parts[0], parts[1]))
        pos += header.length
    return out


def record_timestamps(buf: bytes | bytearray | memoryview) -> list[tuple[int, int]] | None:
    """(offset, timestamp) of each record of the one batch in ``buf``; None when its records
    cannot be read here (compressed with anything but gzip)."""
    view = memoryview(buf)
    header = parse_header(view)
    codec = header.attributes & 0x07
    body: memoryview
    if codec == 0:
        body = view[HEADER_SIZE:header.length]
    elif codec == 1:
        import zlib

        try:
            body = memoryview(zlib.decompress(bytes(view[HEADER_SIZE:header.length]), 47))
        except zlib.error:
            return None
    else:
        return None
    out: list[tuple[int, int]] = []
    cur = 0
    try:
        for _ in range(header.records_count):
            length, cur = _read_varint(body, cur)
            end = cur + length
            ts_delta, pos = _read_varint(body, cur + 1)
            offset_delta, pos = _read_varint(body, pos)
            out.append((header.base_offset + offset_delta, header.base_timestamp + ts_delta))
            cur = end
    except IndexError:
        return None
    return out


def _read_varint(view: memoryview, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7

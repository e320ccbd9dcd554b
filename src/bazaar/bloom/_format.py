"""The saved form of a filter: a 64-byte versioned header, then the bit vector.

Header (little-endian): magic ``BZBLOOM\\0``, format version (u16), hash id (u8), flags (u8),
k (u32), m (u64), capacity (u64, 0 if built from m and k), error rate (f64, 0 if unknown),
payload length (u64), CRC-32C of the payload (u32), 8 reserved bytes, CRC-32C of the first 60
header bytes (u32). The payload starts at byte 64, so a memory map of it is aligned.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import crc32c

from bazaar.bloom._errors import CorruptFilterError

MAGIC = b"BZBLOOM\x00"
VERSION = 1
HEADER = struct.Struct("<8sHBBIQQdQI8sI")
HEADER_SIZE = HEADER.size  # 64


@dataclass(frozen=True)
class Header:
    """What a saved filter says about itself."""

    hash_id: int
    hashes: int
    bits: int
    capacity: int
    error_rate: float
    payload_len: int
    payload_crc: int

    def pack(self) -> bytes:
        body = HEADER.pack(MAGIC, VERSION, self.hash_id, 0, self.hashes, self.bits,
                           self.capacity, self.error_rate, self.payload_len, self.payload_crc,
                           b"\x00" * 8, 0)
        return body[:-4] + struct.pack("<I", crc32c.crc32c(body[:-4]))


def unpack_header(raw: bytes) -> Header:
    """Parse and verify a header; :class:`CorruptFilterError` if anything is off."""
    if len(raw) < HEADER_SIZE:
        raise CorruptFilterError(f"truncated header: {len(raw)} of {HEADER_SIZE} bytes")
    raw = raw[:HEADER_SIZE]
    (magic, version, hash_id, _flags, hashes, bits, capacity, error_rate, payload_len,
     payload_crc, _reserved, header_crc) = HEADER.unpack(raw)
    if magic != MAGIC:
        raise CorruptFilterError("not a Bazaar Bloom filter (bad magic)")
    if version != VERSION:
        raise CorruptFilterError(f"unsupported format version {version} (this reads {VERSION})")
    if crc32c.crc32c(raw[:-4]) != header_crc:
        raise CorruptFilterError("header checksum mismatch")
    if payload_len != (bits + 7) // 8:
        raise CorruptFilterError(f"payload length {payload_len} does not fit {bits} bits")
    return Header(hash_id, hashes, bits, capacity, error_rate, payload_len, payload_crc)


def checksum(payload: bytes | memoryview) -> int:
    """CRC-32C of the bit vector."""
    return int(crc32c.crc32c(payload))

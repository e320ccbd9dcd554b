"""The Bloom filter: sized from (n, p) or given (m, k), batch operations in numpy."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bazaar.bloom import _batch, _bits, _format
from bazaar.bloom._errors import BloomConfigError, CorruptFilterError, IncompatibleFiltersError
from bazaar.bloom._hashing import (
    HASH_IDS,
    HashName,
    Key,
    check_hash,
    hash_name_of,
    hash_pair_one,
    positions_one,
)
from bazaar.bloom._params import check_shape, optimal_bits, optimal_hashes

#: Filters bigger than this are memory-mapped by :meth:`BloomFilter.load` unless told otherwise.
MMAP_THRESHOLD = 64 << 20


class BloomFilter:
    """A Bloom filter of ``m`` bits and ``k`` hashes: no false negatives, tunable false positives.

    ``BloomFilter(capacity, error_rate)`` sizes itself optimally; :meth:`from_params` takes
    explicit ``m`` and ``k``. Keys are ``str`` (UTF-8), ``bytes`` or ``int`` (as decimal text).
    Mutations are serialised by a lock, so one filter may be shared by threads.
    """

    def __init__(self, capacity: int, error_rate: float = 0.01, *,
                 hash: HashName = "xxh3_128") -> None:
        bits = optimal_bits(capacity, error_rate)
        self._init(bits, optimal_hashes(bits, capacity), hash, capacity, float(error_rate), None)

    def _init(self, bits: int, hashes: int, hash_name: str, capacity: int, error_rate: float,
              vector: npt.NDArray[np.uint8] | None) -> None:
        check_shape(bits, hashes)
        self._m = bits
        self._k = hashes
        self._hash: HashName = check_hash(hash_name)
        self._capacity = capacity
        self._error_rate = error_rate
        self._vector = vector if vector is not None else np.zeros((bits + 7) // 8, np.uint8)
        # Single-key operations index bytes through a memoryview: ~10x cheaper than numpy
        # scalar indexing for 7 probes.
        self._view = memoryview(self._vector).cast("B")  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._path: Path | None = None
        # Batch operations use the C extension when built; tests and the benchmark set this
        # to False to run the numpy reference path on the same filter.
        self._native = True

    @classmethod
    def from_params(cls, bits: int, hashes: int, *, hash: HashName = "xxh3_128",
                    capacity: int = 0, error_rate: float = 0.0) -> BloomFilter:
        """A filter with exactly ``bits`` bits and ``hashes`` hash functions."""
        self = cls.__new__(cls)
        self._init(bits, hashes, hash, capacity, error_rate, None)
        return self

    # --- shape ---------------------------------------------------------------------------
    @property
    def bits(self) -> int:
        """m, the number of bits."""
        return self._m

    @property
    def hashes(self) -> int:
        """k, the number of probes per key."""
        return self._k

    @property
    def hash_name(self) -> HashName:
        return self._hash

    @property
    def capacity(self) -> int:
        """The n it was sized for (0 when built from explicit m and k)."""
        return self._capacity

    @property
    def error_rate(self) -> float:
        """The p it was sized for (0.0 when built from explicit m and k)."""
        return self._error_rate

    @property
    def nbytes(self) -> int:
        return int(self._vector.nbytes)

    # --- membership ------------------------------------------------------------------------
    def add(self, key: Key) -> bool:
        """Add one key; True if it was not (probably) there before."""
        probes = positions_one(key, self._k, self._m, self._hash)
        view = self._view
        new = False
        with self._lock:
            for p in probes:
                mask = 0x80 >> (p & 7)
                if not view[p >> 3] & mask:
                    view[p >> 3] |= mask
                    new = True
        return new

    def __contains__(self, key: object) -> bool:
        try:
            h1, h2 = hash_pair_one(key, self._hash)  # type: ignore[arg-type]
        except TypeError:
            return False
        m, view = self._m, self._view
        for i in range(self._k):  # stop at the first clear bit: absent keys cost ~2 probes
            p = ((((h1 + i * h2) & 0xFFFFFFFFFFFFFFFF) >> 32) * m) >> 32
            if not view[p >> 3] & (0x80 >> (p & 7)):
                return False
        return True

    def add_many(self, keys: Iterable[Key]) -> npt.NDArray[np.bool_]:
        """Add a batch of keys in one call (C when built, else numpy); a bad key changes nothing.

        Returns one boolean per key, in order: True where the filter did not (probably) hold the
        key before this call — ``~contains_many(keys)`` taken just before adding. The contract
        of every filter's ``add_many`` (Redis and scalable too); a key repeated within one batch
        gets the same answer at each occurrence."""
        batch = _batch.as_list(keys)
        with self._lock:
            before = _batch.contains_many(self._vector, batch, self._k, self._m, self._hash,
                                          native=self._native)
            _batch.add_many(self._vector, batch, self._k, self._m, self._hash,
                            native=self._native)
        return ~before

    def contains_many(self, keys: Iterable[Key]) -> npt.NDArray[np.bool_]:
        """One boolean per key, in order: False means definitely absent."""
        return _batch.contains_many(self._vector, keys, self._k, self._m, self._hash,
                                    native=self._native)

    # --- estimates ---------------------------------------------------------------------------
    def bits_set(self) -> int:
        return _bits.popcount(self._vector)

    def fill_ratio(self) -> float:
        """Fraction of bits set."""
        return self.bits_set() / self._m

    def false_positive_rate(self) -> float:
        """Current false-positive probability, from the fill ratio: (X / m)^k."""
        return float(self.fill_ratio() ** self._k)

    def estimated_count(self) -> float:
        """Swamidass & Baldi: n ≈ -(m / k) ln(1 - X / m)."""
        x = self.bits_set()
        if x >= self._m:
            return math.inf
        return -self._m / self._k * math.log1p(-x / self._m)

    def __len__(self) -> int:
        """Estimated number of distinct keys added (capped at sys.maxsize when saturated)."""
        n = self.estimated_count()
        return round(n) if math.isfinite(n) else 2**63 - 1

    # --- set algebra -------------------------------------------------------------------------
    def _check_compatible(self, other: object) -> BloomFilter:
        if not isinstance(other, BloomFilter):
            raise IncompatibleFiltersError(f"cannot combine with {type(other).__name__}")
        if (self._m, self._k, self._hash) != (other._m, other._k, other._hash):
            raise IncompatibleFiltersError(
                f"filters differ: (m={self._m}, k={self._k}, {self._hash}) vs "
                f"(m={other._m}, k={other._k}, {other._hash})")
        return other

    def union(self, other: BloomFilter) -> BloomFilter:
        """A new filter holding every key of either: bitwise OR."""
        other = self._check_compatible(other)
        out = self.copy()
        np.bitwise_or(out._vector, other._vector, out=out._vector)
        return out

    def intersection(self, other: BloomFilter) -> BloomFilter:
        """A new filter answering yes for keys of both (bitwise AND; may over-approximate)."""
        other = self._check_compatible(other)
        out = self.copy()
        np.bitwise_and(out._vector, other._vector, out=out._vector)
        return out

    __or__ = union
    __and__ = intersection

    def update(self, other: BloomFilter) -> None:
        """In-place union."""
        other = self._check_compatible(other)
        with self._lock:
            np.bitwise_or(self._vector, other._vector, out=self._vector)

    def copy(self) -> BloomFilter:
        out = BloomFilter.__new__(BloomFilter)
        out._init(self._m, self._k, self._hash, self._capacity, self._error_rate,
                  np.array(self._vector, dtype=np.uint8, copy=True))
        return out

    def clear(self) -> None:
        with self._lock:
            self._vector[:] = 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BloomFilter):
            return NotImplemented
        return ((self._m, self._k, self._hash) == (other._m, other._k, other._hash)
                and bool(np.array_equal(self._vector, other._vector)))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"BloomFilter(m={self._m}, k={self._k}, hash={self._hash!r}, "
                f"capacity={self._capacity}, error_rate={self._error_rate})")

    # --- bytes and files ---------------------------------------------------------------------
    def bit_bytes(self) -> bytes:
        """The raw bit vector (the same bytes a Redis-backed filter stores)."""
        return self._vector.tobytes()

    @classmethod
    def from_bit_bytes(cls, data: bytes, bits: int, hashes: int, *,
                       hash: HashName = "xxh3_128") -> BloomFilter:
        """A filter over an existing bit vector; short input is zero-padded (as Redis does)."""
        size = (bits + 7) // 8
        if len(data) > size:
            raise BloomConfigError(f"{len(data)} bytes is more than {bits} bits")
        self = cls.from_params(bits, hashes, hash=hash)
        self._vector[: len(data)] = np.frombuffer(data, dtype=np.uint8)
        return self

    def _header(self) -> _format.Header:
        payload = self._vector.data
        return _format.Header(HASH_IDS[self._hash], self._k, self._m, self._capacity,
                              self._error_rate, self._vector.nbytes, _format.checksum(payload))

    def to_bytes(self) -> bytes:
        """Header plus bits; :meth:`from_bytes` reads it back, verifying both checksums."""
        with self._lock:
            return self._header().pack() + self._vector.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> BloomFilter:
        header = _format.unpack_header(data)
        payload = memoryview(data)[_format.HEADER_SIZE:]
        if len(payload) != header.payload_len:
            raise CorruptFilterError(
                f"payload is {len(payload)} bytes, header says {header.payload_len}")
        if _format.checksum(payload) != header.payload_crc:
            raise CorruptFilterError("payload checksum mismatch")
        return cls._from_header(header, np.frombuffer(payload, dtype=np.uint8).copy())

    @classmethod
    def _from_header(cls, header: _format.Header, vector: npt.NDArray[np.uint8]) -> BloomFilter:
        self = cls.__new__(cls)
        try:
            self._init(header.bits, header.hashes, hash_name_of(header.hash_id),
                       header.capacity, header.error_rate, vector)
        except BloomConfigError as exc:
            raise CorruptFilterError(f"header holds impossible parameters: {exc}") from exc
        return self

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (temporary file, fsync, rename)."""
        target = Path(path)
        if self._path is not None and target.resolve() == self._path.resolve():
            self.flush()
            return
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        with tmp.open("wb") as f:
            f.write(self.to_bytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool | None = None) -> BloomFilter:
        """Read a saved filter. ``mmap`` (default: when larger than 64 MiB) maps the file
        read-write, so adds go to the file; call :meth:`flush` to persist the checksum."""
        source = Path(path)
        try:
            size = source.stat().st_size
            use_mmap = size > MMAP_THRESHOLD if mmap is None else mmap
            if not use_mmap:
                return cls.from_bytes(source.read_bytes())
            with source.open("rb") as f:
                header = _format.unpack_header(f.read(_format.HEADER_SIZE))
        except OSError as exc:
            raise CorruptFilterError(f"cannot read {source}: {exc}") from exc
        if size != _format.HEADER_SIZE + header.payload_len:
            raise CorruptFilterError(f"{source} is {size} bytes, header says "
                                     f"{_format.HEADER_SIZE + header.payload_len}")
        vector = np.memmap(source, dtype=np.uint8, mode="r+", offset=_format.HEADER_SIZE,
                           shape=(header.payload_len,))
        if _format.checksum(vector.data) != header.payload_crc:
            raise CorruptFilterError("payload checksum mismatch")
        self = cls._from_header(header, vector)
        self._path = source
        return self

    def flush(self) -> None:
        """For a memory-mapped filter: write the bits and a fresh header to its file."""
        if self._path is None or not isinstance(self._vector, np.memmap):
            return
        with self._lock:
            self._vector.flush()
            header = self._header().pack()
        with self._path.open("r+b") as f:
            f.write(header)
            f.flush()
            os.fsync(f.fileno())

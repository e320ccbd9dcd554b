"""Scalable Bloom filter (Almeida, Baquero, Preguiça, Hutchison 2007) for an unknown n.

Stage i holds ``initial_capacity * growth^i`` keys at error ``p0 * tightening^i`` with
``p0 = p * (1 - tightening)``, so the compound error sum(p0 r^i) stays below p however many
stages are added. A key is present if any stage has it; new keys go to the newest stage.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from bazaar.bloom import _batch
from bazaar.bloom._errors import BloomConfigError, CorruptFilterError
from bazaar.bloom._filter import BloomFilter
from bazaar.bloom._hashing import HashName, Key, check_hash, key_bytes

_MAGIC = b"BZSBLOOM"
_HEAD = struct.Struct("<8sHQddI")


class ScalableBloomFilter:
    """A filter that grows by adding stages, keeping the overall error rate under ``error_rate``."""

    def __init__(self, initial_capacity: int = 1024, error_rate: float = 0.01, *,
                 growth: int = 2, tightening: float = 0.85,
                 hash: HashName = "xxh3_128") -> None:
        if not isinstance(initial_capacity, int) or initial_capacity < 1:
            raise BloomConfigError(f"initial capacity must be >= 1, got {initial_capacity!r}")
        if not 0.0 < error_rate < 1.0:
            raise BloomConfigError(f"error rate must be in (0, 1), got {error_rate!r}")
        if growth not in (1, 2, 4):
            raise BloomConfigError(f"growth must be 1, 2 or 4, got {growth!r}")
        if not 0.0 < tightening < 1.0:
            raise BloomConfigError(f"tightening must be in (0, 1), got {tightening!r}")
        self._initial = initial_capacity
        self._p = float(error_rate)
        self._growth = growth
        self._r = float(tightening)
        self._hash: HashName = check_hash(hash)
        self._stages: list[BloomFilter] = []
        self._counts: list[int] = []
        self._new_stage()

    def _new_stage(self) -> None:
        i = len(self._stages)
        capacity = self._initial * self._growth**i
        error = self._p * (1.0 - self._r) * self._r**i
        self._stages.append(BloomFilter(capacity, error, hash=self._hash))
        self._counts.append(0)

    @property
    def stages(self) -> int:
        return len(self._stages)

    @property
    def error_rate(self) -> float:
        """The bound on the compound false-positive rate."""
        return self._p

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._stages)

    def __len__(self) -> int:
        """Number of keys inserted as new (exact, unlike a plain filter's estimate)."""
        return sum(self._counts)

    def __contains__(self, key: object) -> bool:
        return any(key in stage for stage in self._stages)

    def add(self, key: Key) -> bool:
        """Add one key; True if it was new."""
        key_bytes(key)
        if key in self:
            return False
        if self._counts[-1] >= self._stages[-1].capacity:
            self._new_stage()
        self._stages[-1].add(key)
        self._counts[-1] += 1
        return True

    def contains_many(self, keys: Iterable[Key]) -> npt.NDArray[np.bool_]:
        batch = keys if isinstance(keys, list) else list(keys)
        found = np.zeros(len(batch), dtype=np.bool_)
        for stage in self._stages:
            found |= stage.contains_many(batch)
        return found

    def add_many(self, keys: Iterable[Key]) -> npt.NDArray[np.bool_]:
        """Add a batch; returns one boolean per key, in order: True where the filter did not
        (probably) hold the key before this call — the contract of every filter's
        ``add_many``. A bad key changes nothing."""
        batch = _batch.as_list(keys)
        absent = ~self.contains_many(batch)
        # Each distinct new key takes one slot of a stage's capacity, however often it repeats.
        fresh = list(dict.fromkeys(batch[i] for i in np.flatnonzero(absent)))
        start = 0
        while start < len(fresh):
            room = self._stages[-1].capacity - self._counts[-1]
            if room <= 0:
                self._new_stage()
                continue
            chunk = fresh[start:start + room]
            self._stages[-1].add_many(chunk)
            self._counts[-1] += len(chunk)
            start += len(chunk)
        return absent

    def false_positive_rate(self) -> float:
        """1 - prod(1 - fp_i): the current compound estimate."""
        clear = 1.0
        for stage in self._stages:
            clear *= 1.0 - stage.false_positive_rate()
        return 1.0 - clear

    def to_bytes(self) -> bytes:
        parts = [_HEAD.pack(_MAGIC, 1, self._initial, self._p, self._r, len(self._stages)),
                 struct.pack("<B", self._growth)]
        for stage, count in zip(self._stages, self._counts, strict=True):
            blob = stage.to_bytes()
            parts.append(struct.pack("<QQ", count, len(blob)))
            parts.append(blob)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> ScalableBloomFilter:
        try:
            magic, version, initial, p, r, n = _HEAD.unpack_from(data)
            if magic != _MAGIC or version != 1:
                raise CorruptFilterError("not a Bazaar scalable Bloom filter")
            (growth,) = struct.unpack_from("<B", data, _HEAD.size)
            offset = _HEAD.size + 1
            stages: list[BloomFilter] = []
            counts: list[int] = []
            for _ in range(n):
                count, size = struct.unpack_from("<QQ", data, offset)
                offset += 16
                stages.append(BloomFilter.from_bytes(data[offset:offset + size]))
                counts.append(count)
                offset += size
        except struct.error as exc:
            raise CorruptFilterError(f"truncated scalable filter: {exc}") from exc
        if not stages or offset != len(data):
            raise CorruptFilterError("scalable filter has no stages or trailing bytes")
        self = cls(initial, p, growth=growth, tightening=r, hash=stages[0].hash_name)
        self._stages, self._counts = stages, counts
        return self

"""The same filter shared by many processes over plain Redis (no module needed).

The bits live in one Redis string under ``key``, in exactly the local layout (bit i at byte
i >> 3, MSB first: Redis's SETBIT order), so :meth:`RedisBloomFilter.to_local` and
:meth:`RedisBloomFilter.load_from` copy whole filters with one GET or SET. Parameters live
beside it in the hash ``<key>:params``; a second process attaching with other parameters is
refused rather than silently corrupting the filter.

Clients compute bit positions (Lua in Redis has no 64-bit integers); a batch is sent as one
binary string of big-endian u32 positions to a Lua script that sets or tests them, and all
chunks of a batch go in one pipeline: one round trip per batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from bazaar.bloom._errors import BackendError, IncompatibleFiltersError
from bazaar.bloom._filter import BloomFilter
from bazaar.bloom._hashing import HashName, Key, check_hash, key_bytes, positions
from bazaar.bloom._params import check_shape, optimal_bits, optimal_hashes

# ARGV[1] = k, ARGV[2] = n*k big-endian u32 positions. _SET sets them; _CONTAINS returns one
# byte per key, 1 if all its bits are set. add_many sends every _CONTAINS chunk, then every _SET
# chunk, in one MULTI/EXEC: one atomic round trip, answered as of just before the call.
_SET = """
local blob = ARGV[2]
for p = 1, #blob, 4 do
  local b1, b2, b3, b4 = string.byte(blob, p, p + 3)
  redis.call('SETBIT', KEYS[1], ((b1 * 256 + b2) * 256 + b3) * 256 + b4, 1)
end
return 0
"""
_CONTAINS = """
local k = tonumber(ARGV[1]); local blob = ARGV[2]; local n = #blob / (4 * k)
local out = {}
for i = 0, n - 1 do
  local hit = 1
  for j = 0, k - 1 do
    local p = 4 * (i * k + j) + 1
    local b1, b2, b3, b4 = string.byte(blob, p, p + 3)
    local off = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    if redis.call('GETBIT', KEYS[1], off) == 0 then hit = 0; break end
  end
  out[i + 1] = hit
end
return string.char(unpack(out))
"""
# Lua's unpack() is limited by its C stack (~8000 values): chunk batches below that.
_CHUNK = 4000


class RedisBloomFilter:
    """A Bloom filter whose bits live in Redis, shared by every process that attaches to it.

    Give either ``capacity`` (and ``error_rate``) or explicit ``bits`` and ``hashes``.
    """

    def __init__(self, client: redis.Redis, key: str, *, capacity: int | None = None,
                 error_rate: float = 0.01, bits: int | None = None, hashes: int | None = None,
                 hash: HashName = "xxh3_128") -> None:
        if bits is None:
            if capacity is None:
                raise IncompatibleFiltersError("give capacity (and error_rate) or bits and hashes")
            bits = optimal_bits(capacity, error_rate)
            hashes = hashes or optimal_hashes(bits, capacity)
        if hashes is None:
            raise IncompatibleFiltersError("explicit bits need explicit hashes")
        check_shape(bits, hashes)
        self._client = client
        self._key = key
        self._m, self._k, self._hash = bits, hashes, check_hash(hash)
        self._set = client.register_script(_SET)
        self._contains = client.register_script(_CONTAINS)
        self._attach()

    def _attach(self) -> None:
        want = {"m": str(self._m), "k": str(self._k), "hash": self._hash, "layout": "1"}
        params_key = f"{self._key}:params"
        try:
            pipe = self._client.pipeline(transaction=True)
            for field, value in want.items():
                pipe.hsetnx(params_key, field, value)
            pipe.hgetall(params_key)
            stored: dict[Any, Any] = pipe.execute()[-1]
        except redis.RedisError as exc:
            raise BackendError(f"Redis unavailable for filter {self._key!r}: {exc}") from exc
        have = {(k.decode() if isinstance(k, bytes) else k):
                (v.decode() if isinstance(v, bytes) else v) for k, v in stored.items()}
        if have != want:
            raise IncompatibleFiltersError(
                f"Redis filter {self._key!r} exists with {have}, not {want}")

    @property
    def bits(self) -> int:
        return self._m

    @property
    def hashes(self) -> int:
        return self._k

    @property
    def hash_name(self) -> HashName:
        return self._hash

    @property
    def key(self) -> str:
        return self._key

    def _chunks(self, batch: list[Key]) -> list[bytes]:
        probes = positions(batch, self._k, self._m, self._hash)
        # Row-major per key: key i's k positions are adjacent.
        blob = probes.T.astype(">u4").tobytes()
        step = _CHUNK * self._k * 4
        return [blob[start:start + step] for start in range(0, len(blob), step)]

    def _run(self, keys: Iterable[Key], *, add: bool) -> npt.NDArray[np.bool_]:
        """Whether each key's bits were all set; with ``add``, then set them, atomically."""
        batch = keys if isinstance(keys, list) else list(keys)
        if not batch:
            return np.zeros(0, dtype=np.bool_)
        chunks = self._chunks(batch)
        try:
            pipe = self._client.pipeline(transaction=add)
            for chunk in chunks:
                self._contains(keys=[self._key], args=[self._k, chunk], client=pipe)
            if add:
                for chunk in chunks:
                    self._set(keys=[self._key], args=[self._k, chunk], client=pipe)
            replies = pipe.execute()[:len(chunks)]
        except redis.RedisError as exc:
            raise BackendError(f"Redis Bloom filter {self._key!r} failed: {exc}") from exc
        return np.frombuffer(b"".join(replies), dtype=np.uint8).astype(np.bool_)

    def add(self, key: Key) -> bool:
        """Add one key; True if it was new (to every process sharing the filter)."""
        return not self._run([key_bytes(key)], add=True)[0]

    def add_many(self, keys: Iterable[Key]) -> npt.NDArray[np.bool_]:
        """Add a batch in one round trip (atomic: one script); returns one boolean per key, in
        order: True where the filter did not (probably) hold the key before this call — the
        contract of every filter's ``add_many``."""
        return ~self._run(keys, add=True)

    def __contains__(self, key: object) -> bool:
        return bool(self._run([key_bytes(key)], add=False)[0])  # type: ignore[arg-type]

    def contains_many(self, keys: Iterable[Key]) -> npt.NDArray[np.bool_]:
        """One boolean per key, one round trip."""
        return self._run(keys, add=False)

    def to_local(self) -> BloomFilter:
        """A local copy of the shared filter (one GET)."""
        try:
            data = self._client.get(self._key) or b""
        except redis.RedisError as exc:
            raise BackendError(f"Redis GET {self._key!r} failed: {exc}") from exc
        assert isinstance(data, bytes)
        return BloomFilter.from_bit_bytes(data, self._m, self._k, hash=self._hash)

    def load_from(self, local: BloomFilter) -> None:
        """Replace the shared bits with a local filter's (one SET); shapes must match."""
        if (local.bits, local.hashes, local.hash_name) != (self._m, self._k, self._hash):
            raise IncompatibleFiltersError("local filter has other m, k or hash")
        try:
            self._client.set(self._key, local.bit_bytes())
        except redis.RedisError as exc:
            raise BackendError(f"Redis SET {self._key!r} failed: {exc}") from exc

    def merge_from(self, local: BloomFilter) -> None:
        """OR a local filter's bits into the shared ones, atomically (SET a scratch key,
        BITOP OR, DEL): keys other processes add meanwhile are never lost."""
        if (local.bits, local.hashes, local.hash_name) != (self._m, self._k, self._hash):
            raise IncompatibleFiltersError("local filter has other m, k or hash")
        scratch = f"{self._key}:merge:{uuid.uuid4().hex}"
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.set(scratch, local.bit_bytes())
            pipe.bitop("OR", self._key, self._key, scratch)
            pipe.delete(scratch)
            pipe.execute()
        except redis.RedisError as exc:
            raise BackendError(f"Redis merge into {self._key!r} failed: {exc}") from exc

    def bits_set(self) -> int:
        try:
            return int(self._client.bitcount(self._key))
        except redis.RedisError as exc:
            raise BackendError(f"Redis BITCOUNT {self._key!r} failed: {exc}") from exc

    def clear(self) -> None:
        """Delete the bits (the parameters stay)."""
        try:
            self._client.delete(self._key)
        except redis.RedisError as exc:
            raise BackendError(f"Redis DEL {self._key!r} failed: {exc}") from exc

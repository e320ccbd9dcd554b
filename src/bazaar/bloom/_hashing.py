"""Keys → k bit positions: one 128-bit hash per key, Kirsch-Mitzenmacher double hashing.

The layout is part of the file and Redis formats, so it is fixed here once:

* a key is bytes; ``str`` is UTF-8 encoded and ``int`` hashed as its decimal text (so ``42``
  and ``"42"`` are the same key);
* ``xxh3_128`` (default): h1 = low 64 bits, h2 = high 64 bits of XXH3-128 with seed 0;
  ``murmur3_128``: h1, h2 = the two 64-bit halves of MurmurHash3_x64_128 with seed 0;
* probe i (0 <= i < k) is g_i = h1 + i * h2 mod 2^64 and its bit is ((g_i >> 32) * m) >> 32
  (Lemire's fast range on the high half: no division, uniform over [0, m)).

Pure path: one C call per key through the xxhash/mmh3 bindings (they have no batch entry
point), then numpy over the whole batch. When the optional C extension ``_native`` is built,
xxh3_128 batches of str/bytes keys are hashed by it in one call instead (see ``_batch.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import mmh3
import numpy as np
import numpy.typing as npt
import xxhash

from bazaar.bloom._errors import BloomConfigError, InvalidKeyError

try:
    import bazaar.bloom._native as _native
except ImportError as exc:  # not built (no libxxhash-dev or no compiler at install time)
    _native = None  # type: ignore[assignment]
    NATIVE_UNAVAILABLE_REASON: str | None = (
        f"{exc}: the C extension was not built (it needs libxxhash-dev and a C compiler when "
        "bazaar is installed); batch operations use numpy")
else:
    NATIVE_UNAVAILABLE_REASON = None

HashName = Literal["xxh3_128", "murmur3_128"]
Key = str | bytes | bytearray | memoryview | int
U64 = npt.NDArray[np.uint64]

HASH_IDS: dict[str, int] = {"xxh3_128": 1, "murmur3_128": 2}
_DIGEST: dict[str, Callable[[bytes], bytes]] = {
    "xxh3_128": xxhash.xxh3_128_digest,
    # hash_bytes == mmh3_x64_128_digest, but also takes str without an encode call.
    "murmur3_128": mmh3.hash_bytes,
}
_SHIFT = np.uint64(32)
_CHUNK = 16384


def check_hash(name: str) -> HashName:
    """Return ``name`` if it is a known hash, else raise :class:`BloomConfigError`."""
    if name not in _DIGEST:
        raise BloomConfigError(f"unknown hash {name!r}; choose one of {sorted(_DIGEST)}")
    return name  # type: ignore[return-value]


def hash_name_of(hash_id: int) -> HashName:
    for name, ident in HASH_IDS.items():
        if ident == hash_id:
            return name  # type: ignore[return-value]
    raise BloomConfigError(f"unknown hash id {hash_id}")


def key_bytes(key: Key) -> bytes:
    """The bytes a key is hashed as; :class:`InvalidKeyError` for anything else."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        try:
            return key.encode()
        except UnicodeEncodeError as exc:
            raise InvalidKeyError(f"a str key must be valid Unicode: {exc}") from exc
    if isinstance(key, bytearray | memoryview):
        return bytes(key)
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key).encode()
    raise InvalidKeyError(f"Bloom filter keys are str, bytes or int, not {type(key).__name__}")


def _digests(batch: list[Key] | tuple[Key, ...], digest: Callable[[bytes], bytes]) -> bytes:
    # Fast paths for homogeneous batches (the common case); anything else, or a mixed batch,
    # raises TypeError inside the C loop and takes the per-key converter instead.
    try:
        if isinstance(batch[0], str):
            # Always str.encode, never a binding's own str handling: mmh3.hash_bytes crashes
            # the interpreter on a lone surrogate (mmh3 5.3.1).
            return b"".join(map(digest, map(str.encode, batch)))  # type: ignore[arg-type]
        if digest is not mmh3.hash_bytes and not isinstance(batch[0], int):
            # Buffers: xxhash raises TypeError for a str or int further on.
            return b"".join(map(digest, batch))  # type: ignore[arg-type]
    except TypeError:
        pass
    return b"".join(map(digest, map(key_bytes, batch)))


def hash_pairs(keys: Iterable[Key], hash_name: HashName, *,
               native: bool = True) -> tuple[U64, U64]:
    """(h1, h2) for every key, as two uint64 arrays (``native=False``: never the extension)."""
    batch = keys if isinstance(keys, list | tuple) else list(keys)
    if not batch:
        empty = np.empty(0, dtype=np.uint64)
        return empty, empty
    if native and _native is not None and hash_name == "xxh3_128":
        pairs = np.empty(2 * len(batch), dtype=np.uint64)
        try:
            _native.hash_pairs(batch, pairs)
            return pairs[0::2], pairs[1::2]
        except TypeError:
            pass  # int or memoryview keys, or bad ones: the per-key converter below
        except UnicodeEncodeError as exc:
            raise InvalidKeyError(f"a str key must be valid Unicode: {exc}") from exc
    try:
        raw = _digests(batch, _DIGEST[hash_name])
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise InvalidKeyError(f"a str key must be valid Unicode: {exc}") from exc
    if hash_name == "xxh3_128":
        # Canonical XXH128 digest: high 64 bits then low 64 bits, big-endian.
        halves = np.frombuffer(raw, dtype=">u8").reshape(-1, 2)
        return halves[:, 1].astype(np.uint64), halves[:, 0].astype(np.uint64)
    halves = np.frombuffer(raw, dtype="<u8").reshape(-1, 2)
    return halves[:, 0].astype(np.uint64), halves[:, 1].astype(np.uint64)


def probe_bits(h1: U64, h2: U64, hashes: int, bits: int) -> U64:
    """The bit positions, shape (k, n): row i holds probe i of every key."""
    out = np.empty((hashes, len(h1)), dtype=np.uint64)
    steps = np.arange(hashes, dtype=np.uint64)[:, None]
    m = np.uint64(bits)
    # Chunks small enough to stay in cache: about twice as fast as one pass over 7M values.
    with np.errstate(over="ignore"):
        for start in range(0, len(h1), _CHUNK):
            block = out[:, start:start + _CHUNK]
            np.multiply(steps, h2[None, start:start + _CHUNK], out=block)
            block += h1[None, start:start + _CHUNK]
            block >>= _SHIFT
            block *= m
            block >>= _SHIFT
    return out


_MASK = (1 << 64) - 1


def hash_pair_one(key: Key, hash_name: HashName) -> tuple[int, int]:
    """(h1, h2) of one key as Python ints: no numpy call overhead for a single key."""
    data = key_bytes(key)
    if hash_name == "xxh3_128":
        h = xxhash.xxh3_128_intdigest(data)
        return h & _MASK, h >> 64
    h1, h2 = mmh3.hash64(data, signed=False)
    return h1, h2


def positions_one(key: Key, hashes: int, bits: int, hash_name: HashName) -> list[int]:
    """One key's k bit positions, as Python ints (same layout as :func:`probe_bits`)."""
    h1, h2 = hash_pair_one(key, hash_name)
    return [((((h1 + i * h2) & _MASK) >> 32) * bits) >> 32 for i in range(hashes)]


def positions(keys: Iterable[Key], hashes: int, bits: int, hash_name: HashName, *,
              native: bool = True) -> U64:
    """Keys → bit positions, shape (k, n)."""
    h1, h2 = hash_pairs(keys, hash_name, native=native)
    return probe_bits(h1, h2, hashes, bits)

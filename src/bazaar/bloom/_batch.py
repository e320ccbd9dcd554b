"""Batch add / contains: the C extension when it is built, else numpy. Same bits either way.

``bazaar.bloom._native`` (``_native.c``, built at install time when the system libxxhash
header is present) hashes, derives the k positions and sets or tests the bits of a whole
batch in one call, releasing the GIL for the bit work. It implements only the default
``xxh3_128`` layout for ``str``, ``bytes`` and ``bytearray`` keys; anything else (murmur3,
``int`` or ``memoryview`` keys, bad keys) takes the numpy path, which is the reference: the
tests check both paths give identical bits and answers.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from bazaar.bloom import _bits
from bazaar.bloom._errors import InvalidKeyError
from bazaar.bloom._hashing import NATIVE_UNAVAILABLE_REASON, HashName, Key, positions

try:
    import bazaar.bloom._native as _native
except ImportError:  # _hashing has the reason
    _native = None  # type: ignore[assignment]

#: Whether the C extension is importable on this install (else NATIVE_UNAVAILABLE_REASON says why).
NATIVE_AVAILABLE = NATIVE_UNAVAILABLE_REASON is None
__all__ = ["NATIVE_AVAILABLE", "NATIVE_UNAVAILABLE_REASON", "add_many", "as_list", "contains_many"]

U8 = npt.NDArray[np.uint8]
Bools = npt.NDArray[np.bool_]


def as_list(keys: Iterable[Key]) -> list[Key] | tuple[Key, ...]:
    return keys if isinstance(keys, list | tuple) else list(keys)


def add_many(vector: U8, keys: Iterable[Key], hashes: int, bits: int, hash_name: HashName,
             *, native: bool = True) -> None:
    """Set every key's k bits in ``vector``; the caller holds the filter's lock.

    A bad key raises before any bit changes, on both paths.
    """
    batch = as_list(keys)
    if native and _native is not None and hash_name == "xxh3_128":
        try:
            _native.add_many(batch, vector, bits, hashes)
            return
        except TypeError:
            pass  # a key type only the numpy path knows (or rejects with InvalidKeyError)
        except UnicodeEncodeError as exc:
            raise InvalidKeyError(f"a str key must be valid Unicode: {exc}") from exc
    _bits.set_bits(vector, positions(batch, hashes, bits, hash_name, native=native), bits)


def contains_many(vector: U8, keys: Iterable[Key], hashes: int, bits: int,
                  hash_name: HashName, *, native: bool = True) -> Bools:
    """One boolean per key, in order: whether all its k bits are set in ``vector``."""
    batch = as_list(keys)
    if native and _native is not None and hash_name == "xxh3_128":
        out = np.empty(len(batch), dtype=np.bool_)
        try:
            _native.contains_many(batch, vector, bits, hashes, out)
            return out
        except TypeError:
            pass
        except UnicodeEncodeError as exc:
            raise InvalidKeyError(f"a str key must be valid Unicode: {exc}") from exc
    probes = positions(batch, hashes, bits, hash_name, native=native)
    return _bits.test_bits(vector, probes, bits)

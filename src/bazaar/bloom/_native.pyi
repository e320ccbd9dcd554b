"""Types of the optional C extension built from ``_native.c`` (see ``_batch.py``)."""

from collections.abc import Sequence
from typing import Any

import numpy as np

# Anything with a (writable, for outputs) contiguous buffer; numpy arrays in practice.
_Buffer = bytes | bytearray | memoryview | np.ndarray[Any, Any]

#: libxxhash's XXH_versionNumber() the extension was built against (e.g. 801 for 0.8.1).
XXHASH_VERSION: int

def add_many(keys: Sequence[object], vector: _Buffer, bits: int, hashes: int, /) -> None: ...
def contains_many(keys: Sequence[object], vector: _Buffer, bits: int, hashes: int,
                  out: _Buffer, /) -> None: ...
def hash_pairs(keys: Sequence[object], out: _Buffer, /) -> None: ...

"""The bit vector: set and test many positions at once, MSB-first within each byte.

Bit ``i`` lives in byte ``i >> 3`` under mask ``0x80 >> (i & 7)``: Redis's SETBIT/GETBIT order,
so the bytes of a local filter and of a Redis string are the same bytes.

Two strategies, picked by batch size: for a batch that touches a sizeable part of the vector,
unpacking it to one byte per bit, scattering, and packing back is several times faster than
``np.bitwise_or.at``; for a few keys, touching only their bytes is cheaper than O(m).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
_LUT = np.array([0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01], dtype=np.uint8)
_THREE = np.uint64(3)
_SEVEN = np.uint64(7)


def set_bits(vector: U8, positions: U64, bits: int) -> None:
    """Set every bit in ``positions`` (any shape) in ``vector``, in place."""
    flat = positions.ravel()
    if flat.size == 0:
        return
    if flat.size * 8 >= bits:
        unpacked = np.unpackbits(vector, count=bits).view(np.bool_)
        unpacked[flat] = True
        vector[:] = np.packbits(unpacked)
    else:
        np.bitwise_or.at(vector, flat >> _THREE, _LUT[flat & _SEVEN])


def test_bits(vector: U8, positions: U64, bits: int) -> npt.NDArray[np.bool_]:
    """For positions of shape (k, n): True for each column whose k bits are all set."""
    if positions.size == 0:
        return np.zeros(positions.shape[1], dtype=np.bool_)
    if positions.size * 4 >= bits:
        unpacked = np.unpackbits(vector, count=bits).view(np.bool_)
        found: npt.NDArray[np.bool_] = np.logical_and.reduce(unpacked[positions], axis=0)
        return found
    probed = vector[positions >> _THREE]
    probed &= _LUT[positions & _SEVEN]
    # Not a bool view: the masked bytes are 0 or a power of two, not 0 or 1.
    hit: npt.NDArray[np.bool_] = np.logical_and.reduce(probed, axis=0, dtype=np.bool_)
    return hit


def popcount(vector: U8) -> int:
    """Number of set bits."""
    return int(np.bitwise_count(vector).sum(dtype=np.uint64))

"""Sizing formulas: optimal bit count and hash count, expected false-positive rate.

For n elements at false-positive rate p the optimum is m = -n ln p / (ln 2)^2 bits and
k = (m / n) ln 2 hash functions; with k hashes the false-positive rate after n insertions is
(1 - e^(-k n / m))^k.
"""

from __future__ import annotations

import math

from bazaar.bloom._errors import BloomConfigError

#: The largest filter we address: bit indices are 32-bit (Lemire's fast range on the high
#: half of each 64-bit probe), which is also Redis's limit for one string (512 MiB).
MAX_BITS = 1 << 32


def optimal_bits(capacity: int, error_rate: float) -> int:
    """Bits needed to hold ``capacity`` elements at ``error_rate``: ceil(-n ln p / (ln 2)^2)."""
    _check_capacity(capacity)
    _check_rate(error_rate)
    return max(1, math.ceil(-capacity * math.log(error_rate) / (math.log(2) ** 2)))


def optimal_hashes(bits: int, capacity: int) -> int:
    """Hash count minimising false positives for ``bits`` and ``capacity``: round((m/n) ln 2)."""
    _check_capacity(capacity)
    return max(1, round(bits / capacity * math.log(2)))


def expected_false_positive_rate(bits: int, hashes: int, count: float) -> float:
    """(1 - e^(-k n / m))^k: the false-positive rate after ``count`` insertions."""
    if bits <= 0 or hashes <= 0:
        raise BloomConfigError("bits and hashes must be positive")
    return float((1.0 - math.exp(-hashes * count / bits)) ** hashes)


def check_shape(bits: int, hashes: int) -> None:
    """Raise :class:`BloomConfigError` unless 1 <= m <= 2^32 and 1 <= k <= 64."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= MAX_BITS:
        raise BloomConfigError(f"bit count must be an int in [1, 2**32], got {bits!r}")
    if not isinstance(hashes, int) or isinstance(hashes, bool) or not 1 <= hashes <= 64:
        raise BloomConfigError(f"hash count must be an int in [1, 64], got {hashes!r}")


def _check_capacity(capacity: int) -> None:
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
        raise BloomConfigError(f"capacity must be a positive int, got {capacity!r}")


def _check_rate(error_rate: float) -> None:
    if not isinstance(error_rate, float | int) or not 0.0 < float(error_rate) < 1.0:
        raise BloomConfigError(f"error rate must be in (0, 1), got {error_rate!r}")

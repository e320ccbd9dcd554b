"""Bloom filters: exactly sized, batch operations in numpy, saved to files or shared in Redis.

``BloomFilter(capacity, error_rate)`` picks the optimal m = -n ln p / (ln 2)^2 bits and
k = (m / n) ln 2 hashes; probes come from one 128-bit hash (xxh3_128 by default, murmur3_128
as an option) by Kirsch-Mitzenmacher double hashing. The bit layout is the same in memory,
in files and in Redis, and stable across processes.
"""

from bazaar.bloom._batch import NATIVE_AVAILABLE, NATIVE_UNAVAILABLE_REASON
from bazaar.bloom._errors import (
    BackendError,
    BloomConfigError,
    BloomError,
    CorruptFilterError,
    IncompatibleFiltersError,
    InvalidKeyError,
)
from bazaar.bloom._filter import BloomFilter
from bazaar.bloom._hashing import HashName, Key
from bazaar.bloom._params import (
    MAX_BITS,
    expected_false_positive_rate,
    optimal_bits,
    optimal_hashes,
)
from bazaar.bloom._redis import RedisBloomFilter
from bazaar.bloom._scalable import ScalableBloomFilter

__all__ = [
    "MAX_BITS",
    "NATIVE_AVAILABLE",
    "NATIVE_UNAVAILABLE_REASON",
    "BackendError",
    "BloomConfigError",
    "BloomError",
    "BloomFilter",
    "CorruptFilterError",
    "HashName",
    "IncompatibleFiltersError",
    "InvalidKeyError",
    "Key",
    "RedisBloomFilter",
    "ScalableBloomFilter",
    "expected_false_positive_rate",
    "optimal_bits",
    "optimal_hashes",
]

"""The C extension and the numpy path: identical hashes, bits and answers for the same keys.

The numpy path (``native=False``) is the reference: it is what the layout tests in
test_bloom_filter.py pin against a from-the-spec Python recomputation and golden positions.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.bloom import BloomFilter, InvalidKeyError, _batch, _bits
from bazaar.bloom._hashing import hash_pairs, positions

HEADER = Path("/usr/include/xxhash.h")
needs_native = pytest.mark.skipif(
    not _batch.NATIVE_AVAILABLE, reason=f"numpy path only: {_batch.NATIVE_UNAVAILABLE_REASON}")

# Lengths at XXH3's internal boundaries (0, 1-3, 4-8, 9-16, 17-128, 129-240, long), and a
# key longer than one 1 KiB stripe block many times over.
BOUNDARY_LENGTHS = [0, 1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1024, 1025, 100_003]
str_or_bytes = st.one_of(st.text(max_size=300), st.binary(max_size=300))


@pytest.mark.skipif(not HEADER.exists(),
                    reason=f"{HEADER} is absent (no libxxhash-dev), so the extension cannot build")
def test_extension_is_built_where_libxxhash_is_installed() -> None:
    assert _batch.NATIVE_AVAILABLE, _batch.NATIVE_UNAVAILABLE_REASON
    from bazaar.bloom import _native

    assert _native.XXHASH_VERSION >= 800  # XXH3-128 output is frozen since 0.8.0


def _both(keys: list[str | bytes] | list[str] | list[bytes], bits: int,
          hashes: int) -> tuple[BloomFilter, BloomFilter]:
    pure = BloomFilter.from_params(bits, hashes)
    pure._native = False
    pure.add_many(keys)
    fast = BloomFilter.from_params(bits, hashes)
    fast.add_many(keys)
    return pure, fast


@needs_native
@settings(max_examples=150, deadline=None)
@given(keys=st.lists(str_or_bytes, max_size=300), probes=st.lists(str_or_bytes, max_size=300),
       bits=st.integers(1, 1 << 24), hashes=st.integers(1, 64))
def test_same_bits_and_answers(keys: list[str | bytes], probes: list[str | bytes], bits: int,
                               hashes: int) -> None:
    pure, fast = _both(keys, bits, hashes)
    assert fast.bit_bytes() == pure.bit_bytes()
    asked = probes + keys
    expected = pure.contains_many(asked)
    assert fast.contains_many(asked).tolist() == expected.tolist()
    assert bool(expected[len(probes):].all())  # no false negatives


@needs_native
@settings(max_examples=100, deadline=None)
@given(keys=st.lists(str_or_bytes, min_size=1, max_size=200))
def test_same_hash_pairs(keys: list[str | bytes]) -> None:
    h1, h2 = hash_pairs(keys, "xxh3_128", native=True)
    r1, r2 = hash_pairs(keys, "xxh3_128", native=False)
    assert h1.tolist() == r1.tolist() and h2.tolist() == r2.tolist()
    one = xxhash.xxh3_128_intdigest(keys[0].encode() if isinstance(keys[0], str) else keys[0])
    assert (int(h1[0]), int(h2[0])) == (one & (2**64 - 1), one >> 64)


@needs_native
@pytest.mark.parametrize("length", BOUNDARY_LENGTHS)
def test_every_xxh3_length_class(length: int) -> None:
    keys: list[str | bytes] = [
        "u" * length,
        ("é€😀" * length)[:length],  # 2-, 3- and 4-byte UTF-8
        bytes(range(256)) * (length // 256) + bytes(range(length % 256)),
    ]
    pure, fast = _both(keys, 1_000_003, 7)
    assert fast.bit_bytes() == pure.bit_bytes()
    assert fast.bits_set() > 0
    assert positions(keys, 7, 1_000_003, "xxh3_128", native=True).tolist() == \
        positions(keys, 7, 1_000_003, "xxh3_128", native=False).tolist()


@needs_native
def test_str_and_its_utf8_bytes_are_one_key() -> None:
    keys = ["", "plain", "café", "日本語", "😀", "a\x00b"]
    bf = BloomFilter(1000, 0.01)
    bf.add_many(keys)
    assert bool(bf.contains_many([k.encode() for k in keys]).all())
    assert bool(bf.contains_many([bytearray(k.encode()) for k in keys]).all())


@needs_native
def test_large_batch_matches_numpy_path() -> None:
    # Big enough for the numpy path's unpack/pack strategy and the C path's prefetching.
    keys = [f"https://shop{i % 97}.example.com/item/{i}" for i in range(60_000)]
    pure, fast = _both(keys, 575_103, 7)
    assert fast.bit_bytes() == pure.bit_bytes()
    absent = [f"https://shop.example.org/{i}" for i in range(60_000)]
    assert fast.contains_many(absent).tolist() == pure.contains_many(absent).tolist()


def test_keys_only_numpy_knows_still_work() -> None:
    # int and memoryview keys make the extension decline the batch; the numpy path takes it.
    bf = BloomFilter(1000, 0.01)
    bf.add_many(["a", 42, memoryview(b"mv")])
    assert bf.contains_many([b"a", "42", b"mv", "absent"]).tolist()[:3] == [True, True, True]
    assert bf.contains_many(iter(("a", 42))).tolist() == [True, True]


def test_empty_batches() -> None:
    bf = BloomFilter(1000, 0.01)
    bf.add_many([])
    bf.add_many(())
    assert bf.bits_set() == 0
    assert bf.contains_many([]).shape == (0,)


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("hash_name", ["xxh3_128", "murmur3_128"])
def test_lone_surrogate_is_a_typed_error_and_changes_nothing(native: bool,
                                                            hash_name: str) -> None:
    bf = BloomFilter(1000, 0.01, hash=hash_name)  # type: ignore[arg-type]
    bf._native = native
    bf.add("a")
    before = bf.bit_bytes()
    batches: list[list[str | bytes]] = [["b", "x\ud800"], ["x\ud800"], [b"b", "x\ud800"]]
    for batch in batches:
        with pytest.raises(InvalidKeyError):
            bf.add_many(batch)
        with pytest.raises(InvalidKeyError):
            bf.contains_many(batch)
    with pytest.raises(InvalidKeyError):
        bf.add("x\ud800")
    assert "x\ud800" not in bf
    assert bf.bit_bytes() == before


@needs_native
def test_extension_refuses_out_of_bounds_shapes() -> None:
    from bazaar.bloom import _native

    vector = np.zeros(16, dtype=np.uint8)
    out = np.zeros(1, dtype=np.bool_)
    with pytest.raises(ValueError):
        _native.add_many(["a"], vector, 16 * 8 + 1, 7)  # vector too short for m
    with pytest.raises(ValueError):
        _native.add_many(["a"], vector, 0, 7)
    with pytest.raises(ValueError):
        _native.add_many(["a"], vector, 128, 65)
    with pytest.raises(ValueError):
        _native.contains_many(["a", "b"], vector, 128, 7, out)  # out too short
    with pytest.raises(BufferError):
        _native.add_many(["a"], b"\x00" * 16, 128, 7)  # read-only vector
    with pytest.raises(TypeError):
        _native.add_many(["a", 1], vector, 128, 7)
    assert not vector.any()


@needs_native
@pytest.mark.parametrize("bits", [(1 << 32) - 1, 1 << 32])
def test_largest_filters(bits: int) -> None:
    # The top of the fast range: ((g >> 32) * m) >> 32 must not overflow at m = 2^32.
    keys: list[str | bytes] = [f"k{i}" for i in range(2000)]
    keys += ["\uffff" * 50, b"\xff" * 64]
    expected = positions(keys, 9, bits, "xxh3_128", native=False)
    assert int(expected.max()) < bits
    fast = BloomFilter.from_params(bits, 9)
    fast.add_many(keys)
    vector = fast._vector
    assert bool((vector[expected >> np.uint64(3)] &
                 (np.uint8(0x80) >> (expected & np.uint64(7)).astype(np.uint8))).all())
    assert fast.bits_set() == len(np.unique(expected))
    assert bool(fast.contains_many(keys).all())


@needs_native
def test_set_bits_agree_with_the_bit_helpers() -> None:
    from bazaar.bloom import _native

    keys = [f"k{i}" for i in range(500)]
    vector = np.zeros(1250, dtype=np.uint8)
    _native.add_many(keys, vector, 10_000, 5)
    expected = np.zeros(1250, dtype=np.uint8)
    _bits.set_bits(expected, positions(keys, 5, 10_000, "xxh3_128", native=False), 10_000)
    assert vector.tobytes() == expected.tobytes()


def test_threads_adding_at_once_lose_no_bits() -> None:
    # The C path releases the GIL for the bit work; the filter's lock must still serialise
    # writers (an unlocked read-modify-write of a byte would drop bits).
    batches = [[f"t{t}-{i}" for i in range(20_000)] for t in range(4)]
    shared = BloomFilter(80_000, 0.01)
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            list(pool.map(shared.add_many, batches))
    alone = BloomFilter(80_000, 0.01)
    for batch in batches:
        alone.add_many(batch)
    assert shared == alone

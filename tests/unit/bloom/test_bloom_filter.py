"""BloomFilter: sizing, membership, layout, set algebra, bad input."""

from __future__ import annotations

import math
import subprocess
import sys

import mmh3
import numpy as np
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

import bazaar.bloom as bloom
from bazaar.bloom import (
    BloomConfigError,
    BloomFilter,
    IncompatibleFiltersError,
    InvalidKeyError,
    optimal_bits,
    optimal_hashes,
)

keys_st = st.lists(st.one_of(st.text(max_size=40), st.binary(max_size=40),
                             st.integers(min_value=-(2**70), max_value=2**70)), max_size=200)


def test_public_surface() -> None:
    assert set(bloom.__all__) == {n for n in dir(bloom) if not n.startswith("_")} - {
        "annotations"}


@given(n=st.integers(1, 10**9), p=st.floats(1e-9, 0.5))
def test_m_and_k_are_the_formulas(n: int, p: float) -> None:
    m = optimal_bits(n, p)
    assert m == max(1, math.ceil(-n * math.log(p) / math.log(2) ** 2))
    assert optimal_hashes(m, n) == max(1, round(m / n * math.log(2)))


def test_sized_from_capacity_and_rate() -> None:
    bf = BloomFilter(1_000_000, 0.01)
    assert (bf.bits, bf.hashes) == (9_585_059, 7)
    assert bf.nbytes == (9_585_059 + 7) // 8


@settings(max_examples=60, deadline=None)
@given(keys=keys_st, hash_name=st.sampled_from(["xxh3_128", "murmur3_128"]))
def test_never_a_false_negative(keys: list[bloom.Key], hash_name: bloom.HashName) -> None:
    batch = BloomFilter(max(1, len(keys)), 0.05, hash=hash_name)
    batch.add_many(keys)
    single = BloomFilter(max(1, len(keys)), 0.05, hash=hash_name)
    for key in keys:
        single.add(key)
    assert batch == single
    assert all(key in batch for key in keys)
    assert bool(batch.contains_many(keys).all())


def _reference_positions(key: bytes, k: int, m: int, hash_name: str) -> list[int]:
    """The layout spelled out with Python ints, independent of the numpy code."""
    if hash_name == "xxh3_128":
        h = xxhash.xxh3_128_intdigest(key)
        h1, h2 = h & (2**64 - 1), h >> 64
    else:
        h1, h2 = mmh3.hash64(key, signed=False)
    out = []
    for i in range(k):
        g = (h1 + i * h2) % 2**64
        out.append(((g >> 32) * m) >> 32)
    return out


@pytest.mark.parametrize("hash_name", ["xxh3_128", "murmur3_128"])
def test_bit_layout_matches_the_spec(hash_name: bloom.HashName) -> None:
    keys = [b"https://example.com/", b"bazaar", b"", "h\u00e9".encode()]
    bf = BloomFilter.from_params(1_000_003, 7, hash=hash_name)
    bf.add_many(keys)
    expected = np.zeros((1_000_003 + 7) // 8, dtype=np.uint8)
    for key in keys:
        for pos in _reference_positions(key, 7, 1_000_003, hash_name):
            expected[pos >> 3] |= 0x80 >> (pos & 7)
    assert bf.bit_bytes() == expected.tobytes()


def test_golden_positions_never_change() -> None:
    from bazaar.bloom._hashing import positions

    got = positions(["https://example.com/"], 7, 1_000_003, "xxh3_128").T.tolist()
    assert got == [[624781, 938199, 251615, 565033, 878451, 191866, 505284]]
    got = positions(["https://example.com/"], 7, 1_000_003, "murmur3_128").T.tolist()
    assert got == [[707195, 350922, 994652, 638379, 282106, 925836, 569563]]


def test_same_bits_in_another_process() -> None:
    code = ("import sys; from bazaar.bloom import BloomFilter; b = BloomFilter(1000, 0.01);"
            "b.add_many([f'k{i}' for i in range(500)]); sys.stdout.buffer.write(b.to_bytes())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    here = BloomFilter(1000, 0.01)
    here.add_many([f"k{i}" for i in range(500)])
    assert BloomFilter.from_bytes(out) == here


def test_str_bytes_and_int_keys_agree() -> None:
    bf = BloomFilter(100, 0.01)
    bf.add(42)
    assert "42" in bf and b"42" in bf
    bf.add("caf\u00e9")
    assert "caf\u00e9".encode() in bf
    assert bool(bf.contains_many([42, "42", b"42", bytearray(b"42")]).all())


def test_add_reports_new_keys() -> None:
    bf = BloomFilter(100, 0.001)
    assert bf.add("x") is True
    assert bf.add("x") is False


@pytest.mark.parametrize("bad", [1.5, None, object(), True, ["a"]])
def test_bad_key_is_a_typed_error_and_changes_nothing(bad: object) -> None:
    bf = BloomFilter(100, 0.01)
    bf.add("a")
    before = bf.bit_bytes()
    with pytest.raises(InvalidKeyError):
        bf.add(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError):
        bf.add_many(["b", bad])  # type: ignore[list-item]
    assert bf.bit_bytes() == before
    assert bad not in bf


@pytest.mark.parametrize(("capacity", "rate"), [(0, 0.01), (-5, 0.01), (10, 0.0), (10, 1.0),
                                                (10, -0.1), (1.5, 0.01)])
def test_bad_sizing_is_rejected(capacity: int, rate: float) -> None:
    with pytest.raises(BloomConfigError):
        BloomFilter(capacity, rate)


@pytest.mark.parametrize(("m", "k"), [(0, 3), (2**32 + 1, 3), (100, 0), (100, 65)])
def test_bad_shape_is_rejected(m: int, k: int) -> None:
    with pytest.raises(BloomConfigError):
        BloomFilter.from_params(m, k)
    with pytest.raises(BloomConfigError):
        BloomFilter(10, 0.01, hash="md5")  # type: ignore[arg-type]


def test_union_and_intersection() -> None:
    a, b = BloomFilter(1000, 0.001), BloomFilter(1000, 0.001)
    a.add_many(["x", "both"])
    b.add_many(["y", "both"])
    union = a | b
    assert all(k in union for k in ["x", "y", "both"])
    both = a & b
    assert "both" in both
    assert "x" not in both and "y" not in both
    a.update(b)
    assert a == union
    with pytest.raises(IncompatibleFiltersError):
        a.union(BloomFilter(1000, 0.01))
    with pytest.raises(IncompatibleFiltersError):
        a.union(BloomFilter(1000, 0.001, hash="murmur3_128"))


def test_estimates_at_capacity() -> None:
    bf = BloomFilter(50_000, 0.01)
    bf.add_many([f"key-{i}" for i in range(50_000)])
    assert abs(len(bf) - 50_000) < 50_000 * 0.03
    assert 0.008 < bf.false_positive_rate() < 0.012
    assert len(BloomFilter(10, 0.1)) == 0


@pytest.mark.parametrize(("hash_name", "p"),
                         [("xxh3_128", 0.01), ("xxh3_128", 0.001), ("murmur3_128", 0.01)])
def test_false_positive_rate_at_capacity_within_15_percent(hash_name: bloom.HashName,
                                                          p: float) -> None:
    n = 100_000
    bf = BloomFilter(n, p, hash=hash_name)
    bf.add_many([f"https://shop.example.com/in/{i}" for i in range(n)])
    probes = [f"https://shop.example.com/out/{i}" for i in range(1_000_000)]
    measured = float(bf.contains_many(probes).mean())
    assert abs(measured - p) <= 0.15 * p, measured

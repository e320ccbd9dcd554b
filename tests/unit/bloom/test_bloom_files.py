"""Saved filters: bytes and files with a versioned, checksummed header; memory maps."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.bloom import BloomFilter, CorruptFilterError, ScalableBloomFilter


@settings(max_examples=30, deadline=None)
@given(keys=st.lists(st.text(max_size=20), max_size=100),
       hash_name=st.sampled_from(["xxh3_128", "murmur3_128"]))
def test_bytes_round_trip(keys: list[str], hash_name: str) -> None:
    bf = BloomFilter(200, 0.02, hash=hash_name)  # type: ignore[arg-type]
    bf.add_many(keys)
    back = BloomFilter.from_bytes(bf.to_bytes())
    assert back == bf
    assert (back.capacity, back.error_rate, back.hash_name) == (200, 0.02, hash_name)


def _saved() -> bytes:
    bf = BloomFilter(1000, 0.01)
    bf.add_many(["a", "b"])
    return bf.to_bytes()


@pytest.mark.parametrize("damage", [
    lambda b: b"XXBLOOM\x00" + b[8:],                 # magic
    lambda b: b[:8] + b"\x09\x00" + b[10:],           # version
    lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:],   # header byte (m)
    lambda b: b[:-1] + bytes([b[-1] ^ 0x10]),         # payload bit
    lambda b: b[:-5],                                 # truncated payload
    lambda b: b[:30],                                 # truncated header
])
def test_damage_is_detected(damage: object) -> None:
    with pytest.raises(CorruptFilterError):
        BloomFilter.from_bytes(damage(_saved()))  # type: ignore[operator]


def test_file_round_trip(tmp_path: Path) -> None:
    bf = BloomFilter(1000, 0.01, hash="murmur3_128")
    bf.add_many(range(500))
    path = tmp_path / "f.bloom"
    bf.save(path)
    assert BloomFilter.load(path) == bf
    assert BloomFilter.load(path, mmap=True) == bf


def test_memory_mapped_adds_persist_after_flush(tmp_path: Path) -> None:
    path = tmp_path / "m.bloom"
    BloomFilter(10_000, 0.01).save(path)
    mapped = BloomFilter.load(path, mmap=True)
    mapped.add_many([f"u{i}" for i in range(1000)])
    mapped.add("one more")
    mapped.flush()
    again = BloomFilter.load(path)
    assert bool(again.contains_many([f"u{i}" for i in range(1000)]).all())
    assert "one more" in again
    mapped.save(path)  # saving a mapped filter onto its own file just flushes
    assert BloomFilter.load(path) == again


def test_unflushed_mapped_changes_fail_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "m.bloom"
    BloomFilter(10_000, 0.01).save(path)
    mapped = BloomFilter.load(path, mmap=True)
    mapped.add_many([f"u{i}" for i in range(100)])
    mapped._vector.flush()  # bits on disk, header not rewritten: like a crash before flush()
    with pytest.raises(CorruptFilterError):
        BloomFilter.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CorruptFilterError):
        BloomFilter.load(tmp_path / "nope.bloom")


def test_scalable_grows_and_keeps_its_bound() -> None:
    sbf = ScalableBloomFilter(1000, 0.01)
    keys = [f"k{i}" for i in range(20_000)]
    # A new key may be a false positive (then it is not counted): at most p of them.
    assert sbf.add_many(keys[:10_000]).sum() >= 9_900
    assert sum(sbf.add(key) for key in keys[10_000:12_000]) >= 1_980
    sbf.add_many(keys[12_000:])
    assert sbf.stages >= 4
    assert 19_800 <= len(sbf) <= 20_000
    assert sbf.add("k5") is False
    assert bool(sbf.contains_many(keys).all())
    probes = [f"absent{i}" for i in range(100_000)]
    assert float(sbf.contains_many(probes).mean()) < 0.01
    assert sbf.false_positive_rate() < 0.01
    back = ScalableBloomFilter.from_bytes(sbf.to_bytes())
    assert bool(back.contains_many(keys).all()) and len(back) == len(sbf)
    with pytest.raises(CorruptFilterError):
        ScalableBloomFilter.from_bytes(sbf.to_bytes()[:-3])

"""RedisBloomFilter against a real Redis: shared by clients, same bytes as the local filter."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import redis

from bazaar import localservers
from bazaar.bloom import (
    BackendError,
    BloomFilter,
    IncompatibleFiltersError,
    InvalidKeyError,
    RedisBloomFilter,
)


@pytest.fixture
def client(redis_server: localservers.LocalServer) -> redis.Redis:
    return redis.Redis.from_url(redis_server.url)


def _key() -> str:
    return f"bloom-{uuid.uuid4().hex}"


@pytest.mark.parametrize("hash_name", ["xxh3_128", "murmur3_128"])
def test_same_bits_as_a_local_filter(client: redis.Redis, hash_name: str) -> None:
    keys = [f"https://example.com/{i}" for i in range(10_000)]  # > one Lua chunk
    shared = RedisBloomFilter(client, _key(), capacity=10_000, hash=hash_name)  # type: ignore[arg-type]
    new = shared.add_many(keys)
    assert new.shape == (10_000,) and new.sum() > 9_900
    local = BloomFilter(10_000, 0.01, hash=hash_name)  # type: ignore[arg-type]
    local.add_many(keys)
    assert shared.to_local() == local
    assert shared.bits_set() == local.bits_set()
    assert bool(shared.contains_many(keys).all())
    assert "https://example.com/5" in shared


def test_load_local_into_redis_and_share(client: redis.Redis) -> None:
    local = BloomFilter(1000, 0.01)
    local.add_many(range(1000))
    key = _key()
    one = RedisBloomFilter(client, key, capacity=1000)
    one.load_from(local)
    other_process = RedisBloomFilter(redis.Redis.from_url(_url(client)), key, capacity=1000)
    assert bool(other_process.contains_many(list(range(1000))).all())
    assert other_process.add("fresh") is True
    assert one.add("fresh") is False
    assert "fresh" in one


def _url(client: redis.Redis) -> str:
    kw = client.get_connection_kwargs()
    return f"redis://{kw['host']}:{kw['port']}/{kw.get('db', 0)}"


def test_other_parameters_are_refused(client: redis.Redis) -> None:
    key = _key()
    RedisBloomFilter(client, key, capacity=1000)
    with pytest.raises(IncompatibleFiltersError):
        RedisBloomFilter(client, key, capacity=2000)
    with pytest.raises(IncompatibleFiltersError):
        RedisBloomFilter(client, key, capacity=1000, hash="murmur3_128")
    with pytest.raises(IncompatibleFiltersError):
        RedisBloomFilter(client, key, capacity=1000).load_from(BloomFilter(10, 0.01))


def test_bad_key_changes_nothing(client: redis.Redis) -> None:
    shared = RedisBloomFilter(client, _key(), capacity=100)
    with pytest.raises(InvalidKeyError):
        shared.add_many(["a", 2.5])  # type: ignore[list-item]
    assert shared.bits_set() == 0


def test_server_down_is_a_backend_error() -> None:
    with localservers.redis() as server:
        client = redis.Redis.from_url(server.url, socket_timeout=1)
        shared = RedisBloomFilter(client, "f", capacity=100)
    with pytest.raises(BackendError):
        shared.add("x")
    with pytest.raises(BackendError):
        RedisBloomFilter(client, "g", capacity=100)


def test_merge_keeps_what_is_already_shared(client: redis.Redis) -> None:
    shared = RedisBloomFilter(client, _key(), capacity=1000)
    shared.add("added by another process")
    local = BloomFilter(1000, 0.01)
    local.add_many(range(100))
    shared.merge_from(local)
    assert "added by another process" in shared
    assert bool(shared.contains_many(list(range(100))).all())
    assert shared.bits_set() > local.bits_set()


def test_add_many_keeps_the_one_contract(client: redis.Redis) -> None:
    """As every filter's add_many: per key, whether the filter lacked it before the call —
    across Lua chunks too, and for a key repeated in the batch."""
    shared = RedisBloomFilter(client, _key(), capacity=20_000)
    local = BloomFilter(20_000, 0.01)
    first = [f"u{i}" for i in range(6000)]
    assert shared.add_many(first).all() and local.add_many(first).all()
    # > one chunk, half already there, and the last key of chunk one repeated in chunk two.
    batch = [f"u{i}" for i in range(3000, 9000)] + ["u8999"]
    expected = ~shared.contains_many(batch)
    got = shared.add_many(batch)
    assert got.dtype == np.bool_ and (got == expected).all()
    assert (got == local.add_many(batch)).all()
    assert bool(got[-1]) is bool(got[-2]) is True
    assert shared.add("u8999") is False and shared.add("brand-new") is True

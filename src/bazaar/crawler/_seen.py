"""The seen-set: has this canonical URL been queued before? Three interchangeable answers.

* :class:`ExactSeen` — a Python set: never wrong, ~100+ bytes per URL.
* :class:`BloomSeen` — a ``bazaar.bloom.BloomFilter`` sized from the expected URL count and
  the target false-positive rate: ~(-ln p / ln² 2) bits per URL, and a false positive silently
  drops a URL that was never crawled.
* :class:`RedisSeen` — a ``bazaar.bloom.RedisBloomFilter``: one filter in Redis shared by
  every crawler process.

``add_many(urls)`` answers, for each distinct URL, whether it is new, and records them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import redis

from bazaar.bloom import BackendError, BloomFilter, RedisBloomFilter
from bazaar.crawler._errors import StateError


class SeenSet(Protocol):
    mode: str

    def add_many(self, urls: Sequence[str]) -> list[bool]:
        """One bool per URL of ``urls`` (distinct): True where it was not seen before."""
        ...

    def memory_bytes(self) -> int: ...


class ExactSeen:
    mode = "exact"

    def __init__(self, urls: Iterable[str] = ()) -> None:
        self._set: set[str] = set(urls)

    def add_many(self, urls: Sequence[str]) -> list[bool]:
        out = []
        for url in urls:
            fresh = url not in self._set
            if fresh:
                self._set.add(url)
            out.append(fresh)
        return out

    def __len__(self) -> int:
        return len(self._set)

    def memory_bytes(self) -> int:
        import sys

        table = sys.getsizeof(self._set)
        return table + sum(sys.getsizeof(u) for u in self._set)


class BloomSeen:
    mode = "bloom"

    def __init__(self, capacity: int, error_rate: float,
                 bloom: BloomFilter | None = None) -> None:
        self.filter = bloom if bloom is not None else BloomFilter(capacity, error_rate)

    def add_many(self, urls: Sequence[str]) -> list[bool]:
        if not urls:
            return []
        return [bool(x) for x in self.filter.add_many(list(urls))]

    def memory_bytes(self) -> int:
        return self.filter.nbytes


class RedisSeen:
    mode = "redis"

    def __init__(self, client: redis.Redis, key: str, capacity: int, error_rate: float) -> None:
        try:
            self.filter = RedisBloomFilter(client, key, capacity=capacity,
                                           error_rate=error_rate)
        except BackendError as exc:
            raise StateError(f"cannot reach the shared filter {key!r}: {exc}") from exc

    def add_many(self, urls: Sequence[str]) -> list[bool]:
        if not urls:
            return []
        return [bool(x) for x in self.filter.add_many(list(urls))]

    def memory_bytes(self) -> int:
        return (self.filter.bits + 7) // 8

"""Bloom guards: "can this id exist at all?" answered without the cache or the database.

Loaded from the database at start (:meth:`rebuild`), kept current on insert (:meth:`add`).
Deletions are handled by periodic rebuilds rather than a counting filter: a deleted id that
still passes the guard costs one database miss, which the null cache then absorbs, while a
counting filter would cost 4x the memory for every id, deleted or not.

A guard fails open: if its store (Redis) is down it answers "maybe", so the request goes on
to the database instead of failing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Protocol

import redis

from bazaar.bloom import BackendError, BloomFilter, Key, RedisBloomFilter, ScalableBloomFilter


class KeyGuard(Protocol):
    """A set of existing keys with no false negatives."""

    async def might_exist(self, key: Key) -> bool: ...
    def add(self, key: Key) -> None: ...
    def rebuild(self, keys: Iterable[Key]) -> None: ...


class LocalGuard:
    """An in-process scalable Bloom filter: one app process, or each process its own copy
    (then every process must see every insert, or rebuild periodically)."""

    def __init__(self, initial_capacity: int = 100_000, error_rate: float = 0.001) -> None:
        self._capacity = initial_capacity
        self._p = error_rate
        self._filter = ScalableBloomFilter(initial_capacity, error_rate)
        self._lock = threading.Lock()
        self._during_rebuild: list[Key] | None = None

    async def might_exist(self, key: Key) -> bool:
        return key in self._filter

    def add(self, key: Key) -> None:
        with self._lock:
            self._filter.add(key)
            if self._during_rebuild is not None:
                self._during_rebuild.append(key)

    def rebuild(self, keys: Iterable[Key]) -> None:
        """Replace the filter with one of ``keys`` (forgetting deleted ids). Keys added while
        ``keys`` is being read are carried over, so an insert is never lost."""
        with self._lock:
            self._during_rebuild = []
        try:
            batch = list(keys)
            fresh = ScalableBloomFilter(max(self._capacity, 2 * len(batch)), self._p)
            fresh.add_many(batch)
        except BaseException:
            with self._lock:
                self._during_rebuild = None
            raise
        with self._lock:
            fresh.add_many(self._during_rebuild)
            self._during_rebuild = None
            self._filter = fresh  # readers see the old or the new filter, never a half one


class RedisGuard:
    """A guard shared by every app process through a :class:`RedisBloomFilter`."""

    def __init__(self, client: redis.Redis, key: str, *, capacity: int = 1_000_000,
                 error_rate: float = 0.001) -> None:
        self._filter = RedisBloomFilter(client, key, capacity=capacity, error_rate=error_rate)

    async def might_exist(self, key: Key) -> bool:
        try:
            return await asyncio.to_thread(self._filter.__contains__, key)
        except BackendError:
            return True

    def add(self, key: Key) -> None:
        try:
            self._filter.add(key)
        except BackendError:
            # Fail open on the read side; on the write side the id is simply not guarded
            # until the next rebuild, which is what a lost insert would cost anyway.
            return

    def rebuild(self, keys: Iterable[Key], *, replace: bool = False) -> None:
        """Add ``keys`` to the shared filter (a merge: concurrent adds by other processes
        survive). ``replace`` drops everything else, forgetting deleted ids; run it when
        no process is inserting."""
        local = BloomFilter.from_params(self._filter.bits, self._filter.hashes,
                                        hash=self._filter.hash_name)
        local.add_many(list(keys))
        if replace:
            self._filter.load_from(local)
        else:
            self._filter.merge_from(local)

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
import logging
import threading
import time
from collections.abc import Iterable
from typing import Protocol

import redis

from bazaar.bloom import BackendError, BloomFilter, Key, RedisBloomFilter, ScalableBloomFilter

log = logging.getLogger("bazaar.cache")


class KeyGuard(Protocol):
    """A set of existing keys with no false negatives."""

    async def might_exist(self, key: Key) -> bool: ...

    def add(self, key: Key) -> bool:
        """Add a key; False if the store could not be told (then rebuild before trusting
        the guard again: a missing key would be turned away)."""
        ...

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

    def add(self, key: Key) -> bool:
        with self._lock:
            self._filter.add(key)
            if self._during_rebuild is not None:
                self._during_rebuild.append(key)
        return True

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
    """A guard shared by every app process through a :class:`RedisBloomFilter`.

    Each process keeps a local mirror of the shared bits (re-read every ``refresh_s``, plus
    its own adds), so a key that passes — every legitimate read — costs a local check, not a
    Redis round trip. A "no" from the mirror may only mean another process added the key
    since the last refresh, so it is confirmed against Redis before the request is turned
    away: an attacker's request costs one Redis call and never a database query.

    Attaches lazily, so an app starts even while Redis is down; until it can attach, the
    guard answers "maybe" and requests go on to the database.
    """

    def __init__(self, client: redis.Redis, key: str, *, capacity: int = 1_000_000,
                 error_rate: float = 0.001, refresh_s: float = 30.0) -> None:
        self._client = client
        self._key = key
        self._capacity = capacity
        self._p = error_rate
        self._refresh_s = refresh_s
        self._shared: RedisBloomFilter | None = None
        self._mirror: BloomFilter | None = None
        self._mirror_at = 0.0
        self._refreshing = False

    def _filter(self) -> RedisBloomFilter:
        if self._shared is None:
            self._shared = RedisBloomFilter(self._client, self._key, capacity=self._capacity,
                                            error_rate=self._p)
        return self._shared

    def _contains(self, key: Key) -> bool:
        try:
            return key in self._filter()
        except BackendError:
            return True

    def _refresh(self) -> None:
        try:
            self._mirror = self._filter().to_local()
            self._mirror_at = time.monotonic()
        except BackendError as exc:
            log.warning("guard %s mirror not refreshed: %s", self._key, exc)
        finally:
            self._refreshing = False

    async def might_exist(self, key: Key) -> bool:
        if time.monotonic() - self._mirror_at > self._refresh_s and not self._refreshing:
            self._refreshing = True
            await asyncio.to_thread(self._refresh)
        mirror = self._mirror
        if mirror is not None and key in mirror:
            return True
        return await asyncio.to_thread(self._contains, key)

    def add(self, key: Key) -> bool:
        try:
            self._filter().add(key)
        except BackendError as exc:
            log.warning("guard %s could not add %r: %s", self._key, key, exc)
            return False
        mirror = self._mirror
        if mirror is not None:
            mirror.add(key)
        return True

    def rebuild(self, keys: Iterable[Key], *, replace: bool = False) -> None:
        """Add ``keys`` to the shared filter (a merge: concurrent adds by other processes
        survive). ``replace`` drops everything else, forgetting deleted ids; run it when
        no process is inserting. Raises ``BackendError`` if Redis is down."""
        shared = self._filter()
        local = BloomFilter.from_params(shared.bits, shared.hashes, hash=shared.hash_name)
        local.add_many(list(keys))
        if replace:
            shared.load_from(local)
        else:
            shared.merge_from(local)
        self._refreshing = True
        self._refresh()

"""The in-process nonce store under a flood, with an injected clock: a nonce is a replay
exactly until its time is up (not one instant longer), sweeps drop only expired nonces and
keep refusing live ones, and at its cap the store keeps the newest half instead of growing
without bound. (Written to kill mutants ``./dev mutate signatures`` found alive in
``MemoryNonceStore.remember_now``; see docs/testing.md.)"""

from __future__ import annotations

import asyncio

from bazaar.auth._replay import MemoryNonceStore


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_nonce_is_a_replay_until_exactly_its_expiry() -> None:
    clock = Clock()
    store = MemoryNonceStore(clock=clock)
    assert store.remember_now("n", 30) is True
    clock.t = 1029.999
    assert store.remember_now("n", 30) is False
    clock.t = 1030.0  # its time is up: new again (and remembered anew)
    assert store.remember_now("n", 30) is True
    assert store.remember_now("n", 30) is False
    assert asyncio.run(store.remember("m", 30)) is True
    assert asyncio.run(store.remember("m", 30)) is False


def test_sweeps_drop_expired_nonces_and_keep_refusing_live_ones() -> None:
    clock = Clock()
    store = MemoryNonceStore(clock=clock)
    for i in range(600):
        store.remember_now(f"old-{i}", 10)  # expire at 1010
    clock.t = 1005
    for i in range(423):
        store.remember_now(f"live-{i}", 100)
    clock.t = 1010  # the 600 old ones are expired exactly now
    assert store.remember_now("trigger", 100) is True  # the 1024th entry: a sweep
    assert len(store._seen) == 424  # the old ones went, the live ones and the new stayed
    assert all(store.remember_now(f"live-{i}", 100) is False for i in range(423))
    assert store.remember_now("trigger", 100) is False
    assert store.remember_now("old-1", 10) is True  # expired: new again


def test_at_its_cap_the_store_keeps_the_newest_half() -> None:
    clock = Clock()
    store = MemoryNonceStore(clock=clock, max_entries=1024)
    for i in range(1024):
        clock.t = 1000 + i / 1000  # each later than the one before, none expired
        store.remember_now(f"n-{i}", 3600)
    assert len(store._seen) == 512
    assert store.remember_now("n-1023", 3600) is False  # the newest are kept ...
    assert store.remember_now("n-512", 3600) is False
    assert store.remember_now("n-0", 3600) is True       # ... the oldest half let go
    for i in range(2000):
        store.remember_now(f"more-{i}", 3600)
    assert len(store._seen) <= 1024  # bounded however many arrive

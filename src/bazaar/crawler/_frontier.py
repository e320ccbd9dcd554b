"""The frontier: URLs waiting, by host, with each host's next allowed fetch time.

A host is *leased* to one worker at a time (one connection per host) and comes back with the
time its politeness delay ends. ``claim`` hands out the URL of the host whose time came first
and waits when none is due. The local frontier keeps this schedule in memory over the
durable queue in :class:`CrawlStore`; :class:`RedisFrontier` keeps it in Redis, shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import time
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from bazaar.crawler._store import Entry


class Frontier(Protocol):
    async def claim(self) -> Entry | None:
        """The next URL due, waiting as needed; None when nothing is queued or in flight."""
        ...

    async def push(self, entries: Sequence[Entry]) -> None:
        """Queue URLs the seen-set has just called new."""
        ...

    async def release(self, host: str, ready_at: float, *, back: Entry | None = None) -> None:
        """End the lease of ``host``; it is due again at ``ready_at`` (monotonic seconds).
        ``back`` goes to the front of its queue (a claim given back unfetched)."""
        ...

    async def sizes(self) -> tuple[int, int]:
        """(queued, in flight)."""
        ...

    def stop(self) -> None:
        """Make waiting claims return None (shutdown)."""
        ...


class LocalFrontier:
    """In-memory schedule for one process (the queue itself is durable in the store)."""

    def __init__(self, entries: Sequence[Entry] = ()) -> None:
        self._queues: dict[str, deque[Entry]] = {}
        self._due: list[tuple[float, int, str]] = []
        self._scheduled: set[str] = set()
        self._leased: set[str] = set()
        self._ready_at: dict[str, float] = {}
        self._tick = 0
        self._queued = 0
        self._changed = asyncio.Event()
        self._stopped = False
        self._add(entries)

    def _schedule(self, host: str) -> None:
        if host in self._scheduled or host in self._leased or not self._queues.get(host):
            return
        self._tick += 1
        heapq.heappush(self._due, (self._ready_at.get(host, 0.0), self._tick, host))
        self._scheduled.add(host)

    def _add(self, entries: Sequence[Entry]) -> None:
        for e in entries:
            self._queues.setdefault(e.host, deque()).append(e)
            self._queued += 1
            self._schedule(e.host)

    async def push(self, entries: Sequence[Entry]) -> None:
        if entries:
            self._add(entries)
            self._changed.set()

    async def claim(self) -> Entry | None:
        while not self._stopped:
            now = time.monotonic()
            if self._due and self._due[0][0] <= now:
                _, _, host = heapq.heappop(self._due)
                self._scheduled.discard(host)
                queue = self._queues[host]
                entry = queue.popleft()
                if not queue:
                    del self._queues[host]
                self._queued -= 1
                self._leased.add(host)
                return entry
            if not self._due and not self._leased:
                return None
            self._changed.clear()
            wait = (self._due[0][0] - now) if self._due else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)
        return None

    async def release(self, host: str, ready_at: float, *, back: Entry | None = None) -> None:
        self._leased.discard(host)
        self._ready_at[host] = ready_at
        if back is not None:
            self._queues.setdefault(host, deque()).appendleft(back)
            self._queued += 1
        self._schedule(host)
        self._changed.set()

    async def sizes(self) -> tuple[int, int]:
        return self._queued, len(self._leased)

    def stop(self) -> None:
        self._stopped = True
        self._changed.set()

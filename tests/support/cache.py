"""A stand-in database for the cache tests: rows, a loader per key and a count of queries (the
thing a cache saves), and the record type with its msgpack codec."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from bazaar.cache import MsgpackCodec


@dataclass(frozen=True)
class Item:
    id: int
    name: str


def codec() -> MsgpackCodec[Item]:
    return MsgpackCodec(asdict, lambda d: Item(**d))


class Db:
    """``n`` rows; every load counts as a query and takes ``delay`` seconds."""

    def __init__(self, n: int = 100, delay: float = 0.0) -> None:
        self.rows = {i: Item(i, f"item {i}") for i in range(1, n + 1)}
        self.queries = 0
        self.delay = delay

    def loader(self, item_id: int) -> Callable[[], Awaitable[Item | None]]:
        async def load() -> Item | None:
            self.queries += 1
            if self.delay:
                await asyncio.sleep(self.delay)
            return self.rows.get(item_id)
        return load

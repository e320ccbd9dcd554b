"""Horizontal partitioning, Instagram's way: many *logical* shards (a PostgreSQL schema
each) mapped onto fewer servers, and 64-bit ids that carry their logical shard, so any id
routes without a lookup.

An id is ``41 bits of milliseconds since EPOCH_MS | 13 bits of logical shard | 10 bits of
sequence`` (Instagram's layout: 8,192 logical shards, 1,024 ids per shard per millisecond;
the top bit stays 0 so an id fits PostgreSQL's signed bigint, which leaves 34.8 years).
Rows that belong together (a user's orders and reservations) get ids on their owner's
shard, so they live together and one id finds them all.

What is built here: the ids, the map from logical shard to server, the schema per logical
shard, routing by id, a cross-shard listing that merges the shards' sorted streams, and the
*directory* — the map and the servers' addresses in two tables of one database (the
inventory's), so every process routes the same way and a move is one committed row. Moving a
logical shard to another server online is :mod:`bazaar.storage.resharding`; a writer that
meets a shard moved under it (its schema is gone from the old server) re-reads the directory
and runs again (:meth:`ShardedStore.run`).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

#: 2026-01-01T00:00:00Z: ids count milliseconds from here.
EPOCH_MS = 1_767_225_600_000
SHARD_BITS = 13
SEQUENCE_BITS = 10
TIME_BITS = 41
#: A signed bigint holds the top half of the 41-bit range: 34.8 years from EPOCH_MS.
_USABLE_TIME = 1 << (TIME_BITS - 1)
MAX_SHARDS = 1 << SHARD_BITS
_SEQUENCE_MASK = (1 << SEQUENCE_BITS) - 1
_SHARD_MASK = MAX_SHARDS - 1

T = TypeVar("T")


class ShardError(ValueError):
    """An id or a shard number outside what the layout can hold."""


def make_id(ms: int, shard: int, sequence: int) -> int:
    """The id for millisecond ``ms`` (since the Unix epoch), logical ``shard``, ``sequence``."""
    elapsed = ms - EPOCH_MS
    if not 0 <= elapsed < _USABLE_TIME:
        raise ShardError(f"time {ms} ms is outside what a 63-bit id holds from the epoch")
    if not 0 <= shard < MAX_SHARDS:
        raise ShardError(f"logical shard {shard} is not in 0..{MAX_SHARDS - 1}")
    if not 0 <= sequence <= _SEQUENCE_MASK:
        raise ShardError(f"sequence {sequence} is not in 0..{_SEQUENCE_MASK}")
    return (elapsed << (SHARD_BITS + SEQUENCE_BITS)) | (shard << SEQUENCE_BITS) | sequence


def shard_of(row_id: int) -> int:
    """The logical shard an id names."""
    if not 0 <= row_id < 1 << 63:
        raise ShardError(f"{row_id} is not a 63-bit id")
    return (row_id >> SEQUENCE_BITS) & _SHARD_MASK


def created_ms(row_id: int) -> int:
    """When the id was made (ms since the Unix epoch)."""
    return (row_id >> (SHARD_BITS + SEQUENCE_BITS)) + EPOCH_MS


class IdGenerator:
    """Ids in increasing order per logical shard; at most 1,024 per shard per millisecond
    (the 1,025th waits for the next millisecond). Thread-safe."""

    def __init__(self, clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[int, tuple[int, int]] = {}

    def next(self, shard: int) -> int:
        with self._lock:
            ms = self._clock()
            last_ms, seq = self._last.get(shard, (-1, -1))
            if ms < last_ms:  # the clock stepped back: keep counting in the last millisecond
                ms = last_ms
            if ms == last_ms:
                seq += 1
                while seq > _SEQUENCE_MASK:
                    time.sleep(0.0002)
                    ms = max(self._clock(), last_ms)
                    seq = 0 if ms > last_ms else seq
            else:
                seq = 0
            self._last[shard] = (ms, seq)
            return make_id(ms, shard, seq)


@dataclass(frozen=True)
class ShardMap:
    """``logical`` shards spread over named servers: shard *s* lives on
    ``assignment[s]``. Default assignment: round-robin."""

    logical: int
    servers: tuple[str, ...]
    assignment: Mapping[int, str]

    @classmethod
    def spread(cls, logical: int, servers: Iterable[str]) -> ShardMap:
        names = tuple(servers)
        if not names:
            raise ShardError("a shard map needs at least one server")
        if not 1 <= logical <= MAX_SHARDS:
            raise ShardError(f"logical shards must be 1..{MAX_SHARDS}, got {logical}")
        return cls(logical, names, {s: names[s % len(names)] for s in range(logical)})

    def server_of_shard(self, shard: int) -> str:
        if not 0 <= shard < self.logical:
            raise ShardError(f"logical shard {shard} is not in 0..{self.logical - 1}")
        return self.assignment[shard]

    def server_of(self, row_id: int) -> str:
        """The server holding the row ``row_id`` (no lookup: the id names its shard)."""
        return self.server_of_shard(shard_of(row_id))

    def shard_for_key(self, key: int) -> int:
        """The logical shard a new owner (a new user) goes to."""
        return key % self.logical

    def shard_for_name(self, name: str) -> int:
        """The logical shard of a new owner known by name (a username): CRC-32 of its UTF-8
        bytes, so a login finds the shard from the name alone, with no lookup table."""
        return self.shard_for_key(zlib.crc32(name.encode()))

    def shards_on(self, server: str) -> list[int]:
        return sorted(s for s, name in self.assignment.items() if name == server)


def schema_name(shard: int) -> str:
    """The PostgreSQL schema holding logical shard ``shard``."""
    return f"shard_{shard:04d}"


#: The directory's tables (in the inventory database): which server holds each logical shard,
#: and how to reach each server.
DIRECTORY_DDL = (
    "CREATE TABLE IF NOT EXISTS bazaar_shard_servers (name text PRIMARY KEY, url text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bazaar_shard_map (shard int PRIMARY KEY, "
    "server text NOT NULL REFERENCES bazaar_shard_servers (name), "
    "moved_at timestamptz)",
)
#: PostgreSQL's undefined_table: a statement on a shard whose schema left this server.
_UNDEFINED_TABLE = "42P01"
MAX_MOVE_RETRIES = 3


def write_directory(engine: Engine, shard_map: ShardMap, urls: Mapping[str, str]) -> None:
    """Create the directory in ``engine``'s database holding ``shard_map`` and the servers'
    URLs (a directory already there is left as it is: the map in it is the truth)."""
    missing = set(shard_map.servers) - set(urls)
    if missing:
        raise ShardError(f"no URL for servers {sorted(missing)}")
    with engine.begin() as conn:
        for ddl in DIRECTORY_DDL:
            conn.execute(text(ddl))
        if conn.execute(text("SELECT count(*) FROM bazaar_shard_map")).scalar_one():
            return
        for name, url in urls.items():
            conn.execute(text("INSERT INTO bazaar_shard_servers VALUES (:n, :u)"),
                         {"n": name, "u": url})
        for shard in range(shard_map.logical):
            conn.execute(text("INSERT INTO bazaar_shard_map (shard, server) VALUES (:s, :n)"),
                         {"s": shard, "n": shard_map.assignment[shard]})


def add_server(engine: Engine, name: str, url: str) -> None:
    """Register server ``name`` (holding no shard yet) in the directory; idempotent."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO bazaar_shard_servers VALUES (:n, :u) "
                          "ON CONFLICT (name) DO UPDATE SET url = excluded.url"),
                     {"n": name, "u": url})


def read_directory(conn: Connection) -> tuple[ShardMap, dict[str, str]]:
    """The map and every server's URL, as the directory holds them now."""
    urls = {str(n): str(u) for n, u in conn.execute(
        text("SELECT name, url FROM bazaar_shard_servers ORDER BY name"))}
    rows = conn.execute(text("SELECT shard, server FROM bazaar_shard_map ORDER BY shard")).all()
    if not rows:
        raise ShardError("the shard directory is empty")
    assignment = {int(s): str(n) for s, n in rows}
    if sorted(assignment) != list(range(len(assignment))):
        raise ShardError("the shard directory's logical shards are not 0..N-1")
    return ShardMap(len(assignment), tuple(urls), assignment), urls


def assign(conn: Connection, shard: int, server: str) -> None:
    """Record that ``server`` holds ``shard`` (inside the caller's transaction)."""
    conn.execute(text("UPDATE bazaar_shard_map SET server = :n, moved_at = now() "
                      "WHERE shard = :s"), {"s": shard, "n": server})


def _moved(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == _UNDEFINED_TABLE


class ShardedStore:
    """Connections by id or by shard over one engine per server, each logical shard in its
    own schema (``search_path`` set per connection). With a ``directory`` engine the map is
    the directory's, re-read when a shard turns out to have moved."""

    def __init__(self, shard_map: ShardMap, engines: Mapping[str, Engine],
                 directory: Engine | None = None,
                 connect: Callable[[str], Engine] | None = None) -> None:
        missing = set(shard_map.servers) - set(engines)
        if missing:
            raise ShardError(f"no engine for servers {sorted(missing)}")
        self.map = shard_map
        self.engines = dict(engines)
        self.directory = directory
        self._connect = connect
        self._lock = threading.Lock()
        #: how many times a statement met a moved shard and ran again on its new server
        self.rerouted = 0

    @classmethod
    def open(cls, directory: Engine, connect: Callable[[str], Engine]) -> ShardedStore:
        """The store the directory in ``directory`` describes; ``connect(url)`` makes each
        server's engine."""
        with directory.connect() as conn:
            shard_map, urls = read_directory(conn)
        return cls(shard_map, {name: connect(url) for name, url in urls.items()}, directory,
                   connect)

    def reload(self) -> None:
        """Re-read the map (and engines for servers new since) from the directory."""
        if self.directory is None:
            return
        with self.directory.connect() as conn:
            shard_map, urls = read_directory(conn)
        with self._lock:
            for name, url in urls.items():
                if name not in self.engines:
                    if self._connect is None:
                        raise ShardError(f"no engine for new server {name}")
                    self.engines[name] = self._connect(url)
            self.map = shard_map

    def create_schemas(self, ddl: Callable[[Connection], None]) -> None:
        """Each logical shard's schema on its server, with ``ddl`` run inside it."""
        for shard in range(self.map.logical):
            with self.begin_shard(shard, create=True) as conn:
                ddl(conn)

    def begin_shard(self, shard: int, *, create: bool = False) -> _ShardTransaction:
        return _ShardTransaction(self.engines[self.map.server_of_shard(shard)], shard, create)

    def begin_for(self, row_id: int) -> _ShardTransaction:
        return self.begin_shard(shard_of(row_id))

    def run(self, shard: int, work: Callable[[Connection], T]) -> T:
        """``work`` in one transaction on ``shard``; if the shard moved away meanwhile (its
        tables are gone from the server the map named), the map is re-read and ``work`` runs
        again on the new server — at most :data:`MAX_MOVE_RETRIES` times."""
        for attempt in range(MAX_MOVE_RETRIES + 1):
            server = self.map.server_of_shard(shard)
            try:
                with self.begin_shard(shard) as conn:
                    return work(conn)
            except DBAPIError as exc:
                if not _moved(exc) or attempt == MAX_MOVE_RETRIES or self.directory is None:
                    raise
                self.reload()
                if self.map.server_of_shard(shard) == server:
                    raise  # not a move: a table really is missing
                with self._lock:
                    self.rerouted += 1
        raise AssertionError("unreachable")

    def merged(self, query: Callable[[Connection, int], Iterable[T]],
               key: Callable[[T], Any], limit: int) -> list[T]:
        """The first ``limit`` rows, in ``key`` order, across every logical shard: each
        shard's ``query`` returns its rows already sorted (and at most ``limit`` of them);
        the sorted streams are merged, not concatenated and sorted."""
        def rows(shard: int) -> Iterator[T]:
            def work(conn: Connection) -> list[T]:
                return list(query(conn, shard))

            return iter(self.run(shard, work))

        streams = [rows(shard) for shard in range(self.map.logical)]
        return list(itertools.islice(heapq.merge(*streams, key=key), limit))

    def dispose(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


class _ShardTransaction:
    def __init__(self, engine: Engine, shard: int, create: bool) -> None:
        self._engine, self._shard, self._create = engine, shard, create
        self._cm: Any = None

    def __enter__(self) -> Connection:
        self._cm = self._engine.begin()
        conn: Connection = self._cm.__enter__()
        schema = schema_name(self._shard)
        if self._create:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        return conn

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)

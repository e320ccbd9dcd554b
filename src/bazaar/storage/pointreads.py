"""Point reads on the event loop: one short ``SELECT`` with no worker-thread hop.

The shop's hot reads are primary-key lookups: SQLite answers one in ~10 µs, PostgreSQL in a
round trip. Going through a worker thread and a pooled SQLAlchemy connection costs far more
than the query (a thread hand-off each way, GIL hand-offs under load, ``BEGIN`` and a
``ROLLBACK`` around the one statement). :class:`PointReader` runs the statement where the
request already is:

* **SQLite**: one plain ``sqlite3`` connection per event loop, in autocommit (the statement
  is its own read transaction, so it sees every commit made before it), ``query_only`` and
  no busy wait. A WAL reader never waits for writers; the rare ``SQLITE_BUSY`` (WAL recovery,
  a schema change) raises :class:`Busy`, and the caller takes its usual threaded path.
* **PostgreSQL**: a few ``psycopg.AsyncConnection`` per event loop, in autocommit, each
  statement prepared on the server the first time it runs. Reads by id (:meth:`by_id`)
  that arrive while every connection is busy go out together as one ``= ANY`` query. A
  connection that fails is dropped; the error goes to the caller (who falls back to its
  threaded path, which reports an unreachable database as it always did).

Statements are SQLAlchemy Core selects, compiled once per statement for the engine's
dialect, so the schema stays in one place. Not for a :class:`ReadRouter` (standbys and
read-your-writes need its per-read choice): :func:`point_reader` returns None there.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.sql import Select

from bazaar.storage.engines import sqlite_path

Row = tuple[Any, ...]


class Busy(Exception):
    """The fast path could not read now (locked, reconnecting): use the threaded path."""


class _Compiled:
    __slots__ = ("names", "sql")

    def __init__(self, statement: Select[Any], engine: Engine) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.sql = str(compiled)
        self.names: Sequence[str] = list(compiled.positiontup or ())


class PointReader:
    """``await one(statement, params)``: the first row of a Core select, or None."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._compiled: dict[int, tuple[Select[Any], _Compiled]] = {}

    def _sql(self, statement: Select[Any]) -> _Compiled:
        found = self._compiled.get(id(statement))
        if found is None or found[0] is not statement:
            found = (statement, _Compiled(statement, self._engine))
            self._compiled[id(statement)] = found
        return found[1]

    async def one(self, statement: Select[Any], params: Mapping[str, Any]) -> Row | None:
        raise NotImplementedError

    async def by_id(self, one: Select[Any], many: Select[Any], row_id: int) -> Row | None:
        """The row whose first column is ``row_id``: ``one`` binds it as ``id``; ``many``
        (``… = ANY(:ids)``) may serve many such reads at once, where that pays."""
        return await self.one(one, {"id": row_id})

    def close(self) -> None:
        """Close this process's connections (those of any loop)."""


class SqlitePointReader(PointReader):
    def __init__(self, engine: Engine, path: os.PathLike[str] | str) -> None:
        super().__init__(engine)
        self._path = path
        # One connection per (process, loop thread): sqlite3 connections are not shared.
        self._conns: dict[tuple[int, int], sqlite3.Connection] = {}

    def _conn(self) -> sqlite3.Connection:
        key = (os.getpid(), id(asyncio.get_running_loop()))
        conn = self._conns.get(key)
        if conn is None:
            conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None,
                                   timeout=0)
            # The file's journal mode (WAL, set by the engine) persists; this connection
            # only reads and never waits: a lock is the threaded path's to wait for.
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA query_only=ON")
            self._conns[key] = conn
        return conn

    async def one(self, statement: Select[Any], params: Mapping[str, Any]) -> Row | None:
        compiled = self._sql(statement)
        args = [params[name] for name in compiled.names]
        try:
            row: Row | None = self._conn().execute(compiled.sql, args).fetchone()
        except sqlite3.OperationalError as exc:  # locked, busy, a schema being changed
            raise Busy(str(exc)) from exc
        return row

    def close(self) -> None:
        conns, self._conns = self._conns, {}
        for key, conn in conns.items():
            if key[0] == os.getpid():
                conn.close()


class PostgresPointReader(PointReader):
    def __init__(self, engine: Engine, conninfo: str, connections: int = 4,
                 connect_timeout_s: int = 3) -> None:
        super().__init__(engine)
        self._conninfo = conninfo
        self._size = connections
        self._timeout = connect_timeout_s
        self._pools: dict[tuple[int, int], _LoopPool] = {}

    def _pool(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        key = (os.getpid(), id(loop))
        pool = self._pools.get(key)
        if pool is None or pool.loop is not loop:
            pool = _LoopPool(loop, self._conninfo, self._size, self._timeout)
            self._pools[key] = pool
        return pool

    async def one(self, statement: Select[Any], params: Mapping[str, Any]) -> Row | None:
        import psycopg
        from psycopg.types.numeric import Int8

        compiled = self._sql(statement)
        # Integers as int8: psycopg picks the smallest type for a value (int2 for 1), and a
        # statement prepared with it would refuse a larger id later.
        args = {k: Int8(v) if type(v) is int else v for k, v in params.items()}
        pool = self._pool()
        conn = await pool.take()
        ok = False
        try:
            cursor = await conn.execute(compiled.sql, args, prepare=True)
            row: Row | None = await cursor.fetchone()
            ok = True
        except psycopg.OperationalError as exc:
            raise Busy(str(exc)) from exc
        finally:
            pool.give(conn, ok)
        return row

    async def by_id(self, one: Select[Any], many: Select[Any], row_id: int) -> Row | None:
        # A round trip per read would bound the loop by round trips: the reads that arrive
        # while the connections are busy go out together as one ``= ANY`` query.
        return await self._pool().batch(self._sql(many).sql, row_id)

    def close(self) -> None:
        pools, self._pools = self._pools, {}
        for key, pool in pools.items():
            if key[0] == os.getpid():
                pool.close()


class _LoopPool:
    """At most ``size`` async connections, made on demand, on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, conninfo: str, size: int,
                 timeout: int) -> None:
        self.loop = loop
        self._conninfo = conninfo
        self._timeout = timeout
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(size)
        self._open: set[Any] = set()
        self._pending: dict[int, list[asyncio.Future[Row | None]]] = {}
        self._flush_waiting = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def take(self) -> Any:
        import psycopg

        await self._slots.acquire()
        if self._idle:
            return self._idle.pop()
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=self._timeout,
                prepare_threshold=0)
        except BaseException as exc:
            self._slots.release()
            if isinstance(exc, psycopg.OperationalError):
                raise Busy(str(exc)) from exc
            raise
        self._open.add(conn)
        return conn

    async def batch(self, sql: str, row_id: int) -> Row | None:
        """Join the next batch of id reads; its rows are matched on their first column."""
        future: asyncio.Future[Row | None] = self.loop.create_future()
        self._pending.setdefault(row_id, []).append(future)
        if not self._flush_waiting:
            self._flush_waiting = True
            self._tasks.add(task := self.loop.create_task(self._flush(sql)))
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _flush(self, sql: str) -> None:
        import psycopg
        from psycopg.types.numeric import Int8

        try:
            conn = await self.take()
        except BaseException as exc:
            self._flush_waiting = False
            self._settle(self._take_pending(), exc)
            return
        self._flush_waiting = False  # reads from now on wait for the next batch
        batch = self._take_pending()
        ok = False
        try:
            cursor = await conn.execute(sql, {"ids": [Int8(i) for i in batch]}, prepare=True)
            rows = {row[0]: row for row in await cursor.fetchall()}
            ok = True
        except psycopg.OperationalError as exc:
            self._settle(batch, Busy(str(exc)))
        except BaseException as exc:
            self._settle(batch, exc)
        finally:
            self.give(conn, ok)
        if ok:
            for row_id, futures in batch.items():
                for future in futures:
                    if not future.done():
                        future.set_result(rows.get(row_id))

    def _take_pending(self) -> dict[int, list[asyncio.Future[Row | None]]]:
        batch, self._pending = self._pending, {}
        return batch

    @staticmethod
    def _settle(batch: dict[int, list[asyncio.Future[Row | None]]],
                exc: BaseException) -> None:
        for futures in batch.values():
            for future in futures:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else Busy(str(exc)))

    def give(self, conn: Any, ok: bool) -> None:
        if ok and not conn.closed:
            self._idle.append(conn)
        else:
            self._open.discard(conn)
            conn.pgconn.finish()
        self._slots.release()

    def close(self) -> None:
        for conn in self._open:
            conn.pgconn.finish()
        self._open.clear()
        self._idle.clear()


def point_reader(engine: object, *, connections: int = 1) -> PointReader | None:
    """A :class:`PointReader` for a plain engine on a SQLite file or PostgreSQL (psycopg);
    None for anything else (a ``ReadRouter``, another driver)."""
    if not isinstance(engine, Engine):
        return None
    url = engine.url
    kind = url.get_backend_name()
    if kind == "sqlite":
        path = sqlite_path(url.render_as_string(hide_password=False))
        return None if path is None else SqlitePointReader(engine, path)
    if kind == "postgresql" and url.get_driver_name() == "psycopg":
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresPointReader(engine, conninfo, connections)
    return None

"""Moving one logical shard to another server online: copy, catch up, switch.

1. **Copy.** The shard's tables are created empty on the new server (the caller's DDL); the
   old server publishes the shard's schema (``CREATE PUBLICATION … FOR TABLES IN SCHEMA``)
   and the new one subscribes to it: PostgreSQL's logical replication copies the rows and
   then streams every later change. Writes go on meanwhile, to the old server.
2. **Catch up.** Once every table is copied, the new server trails the old one by the
   changes still in flight.
3. **Switch.** On the old server one transaction locks the shard's tables ``IN EXCLUSIVE
   MODE`` — writes wait, reads go on — and a marker row is committed beside them; when the
   marker reaches the new server, so has every write before it (a subscription applies
   commits in order). A snapshot of the new server's rows is taken then. The old schema is
   renamed inside the locking transaction, which is then *prepared* (``PREPARE
   TRANSACTION``: its lock outlives a crash of this process); the directory is updated to
   name the new server; the prepared transaction commits. The writers that waited find the
   shard's tables gone from the old server and run again on the new one
   (:meth:`ShardedStore.run`). The pause is from the lock request to that commit.
4. **Check.** Outside the pause, each table's rows are hashed on both servers — the old
   copy (frozen: nothing can name it) and the new server as of the snapshot — and must be
   equal; if not, the move is reported failed and the old copy is kept for inspection.

A move interrupted anywhere is finished or undone by running it again: a prepared switch
is committed if the directory already names the new server, else rolled back; a partial
copy (a subscription, a publication, a half-filled schema on a server the directory does not
name) is dropped and the copy starts over. The directory is the truth.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from bazaar.storage.shards import ShardedStore, ShardError, assign, schema_name

Echo = Callable[[str], None]
#: A marker table in the shard's schema on both sides: the catch-up check.
MARKS = "_bazaar_reshard_marks"
#: How long the switch may wait for the lock (in-flight writes to finish) before giving up
#: (and trying again, up to SWITCH_ATTEMPTS times).
LOCK_TIMEOUT_MS = 2_000
SWITCH_ATTEMPTS = 3
#: Where ``move_shard(stop_after=…)`` may stop as if it crashed there.
STOP_POINTS = (None, "copy", "prepare")


class ReshardError(ShardError):
    """A move that could not complete; the shard stays where the directory says."""


@dataclass
class MoveReport:
    shard: int
    source: str
    target: str
    #: moved (this run did it), already-there (nothing to move)
    result: str
    #: What an interrupted earlier run left and this one settled.
    recovered: list[str] = field(default_factory=list)
    copy_s: float = 0.0
    #: Writes to the shard waited this long (lock request → the prepared switch committed).
    pause_ms: float = 0.0
    #: Of the pause: waiting for the marker (the last writes reaching the new server).
    catch_up_ms: float = 0.0
    #: After the switch, outside the pause: hashing every row on both servers.
    hash_ms: float = 0.0
    #: table → (rows, md5 of the sorted row hashes), equal on both servers.
    tables: dict[str, tuple[int, str]] = field(default_factory=dict)


def _gid(shard: int) -> str:
    return f"bazaar_reshard_{shard:04d}"


def _auto(engine: Engine) -> Connection:
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def conninfo(engine: Engine) -> str:
    """libpq's key=value form of ``engine``'s URL (what CREATE SUBSCRIPTION takes)."""
    url = engine.url
    parts = {"host": url.host or "127.0.0.1", "port": str(url.port or 5432),
             "user": url.username or "postgres", "dbname": url.database or "postgres"}
    if url.password:
        parts["password"] = str(url.password)
    return " ".join(f"{k}='{v}'" for k, v in parts.items())


def table_hashes(conn: Connection, schema: str) -> dict[str, tuple[int, str]]:
    """Each table of ``schema`` (but the marker table): its row count and an md5 over the
    sorted md5s of its rows' text — equal on two servers iff they hold the same rows."""
    names = [str(n) for n in conn.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> :m "
        "ORDER BY tablename"), {"s": schema, "m": MARKS}).scalars()]
    out = {}
    for name in names:
        count, digest = conn.execute(text(
            f'SELECT count(*), coalesce(md5(string_agg(h, \'\' ORDER BY h)), \'\') '
            f'FROM (SELECT md5(t::text) AS h FROM "{schema}"."{name}" t) rows')).one()
        out[name] = (int(count), str(digest))
    return out


def _has_schema(conn: Connection, schema: str) -> bool:
    return bool(conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"),
                             {"s": schema}).first())


def _settle_prepared(store: ShardedStore, shard: int, report: MoveReport) -> None:
    """A switch prepared before a crash: commit it if the directory moved, else undo it."""
    gid = _gid(shard)
    holder = store.map.server_of_shard(shard)
    for name, engine in store.engines.items():
        with _auto(engine) as conn:
            if not conn.execute(text("SELECT 1 FROM pg_prepared_xacts WHERE gid = :g"),
                                {"g": gid}).first():
                continue
            finish = "ROLLBACK" if name == holder else "COMMIT"
            conn.execute(text(f"{finish} PREPARED '{gid}'"))
            report.recovered.append(f"{finish.lower()} the switch prepared on {name}")


def _drop_leftovers(store: ShardedStore, shard: int, report: MoveReport) -> None:
    """Subscriptions, publications, slots and schemas of earlier runs, on every server; a
    copy of the shard on a server the directory does not name."""
    gid, schema = _gid(shard), schema_name(shard)
    holder = store.map.server_of_shard(shard)
    for name, engine in store.engines.items():
        with _auto(engine) as conn:
            if conn.execute(text("SELECT 1 FROM pg_subscription WHERE subname = :g"),
                            {"g": gid}).first():
                conn.execute(text(f"DROP SUBSCRIPTION {gid}"))
                report.recovered.append(f"dropped subscription on {name}")
    for name, engine in store.engines.items():
        with _auto(engine) as conn:
            if conn.execute(text("SELECT 1 FROM pg_publication WHERE pubname = :g"),
                            {"g": gid}).first():
                conn.execute(text(f"DROP PUBLICATION {gid}"))
                report.recovered.append(f"dropped publication on {name}")
            for (slot,) in conn.execute(text(
                    "SELECT slot_name FROM pg_replication_slots WHERE slot_name = :g "
                    "AND NOT active"), {"g": gid}).all():
                conn.execute(text("SELECT pg_drop_replication_slot(:s)"), {"s": slot})
                report.recovered.append(f"dropped slot on {name}")
            if _has_schema(conn, f"{schema}_moved"):
                conn.execute(text(f'DROP SCHEMA "{schema}_moved" CASCADE'))
                report.recovered.append(f"dropped the moved-away copy on {name}")
            if name != holder and _has_schema(conn, schema):
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                report.recovered.append(f"dropped a partial copy on {name}")
            elif name == holder and _has_schema(conn, schema):
                conn.execute(text(f'DROP TABLE IF EXISTS "{schema}"."{MARKS}"'))


def move_shard(store: ShardedStore, shard: int, target: str,
               ddl: Callable[[Connection], None], *, echo: Echo = print,
               timeout_s: float = 300.0, stop_after: str | None = None) -> MoveReport:
    """Move logical ``shard`` to server ``target`` (registered in the directory) online;
    ``ddl`` creates the shard's tables in the current schema. Safe to run again after a
    crash at any point (see the module's docstring). ``stop_after`` (``copy`` or
    ``prepare``) leaves the move as a crash at that point would, to show a re-run settles
    it."""
    if stop_after not in STOP_POINTS:
        raise ReshardError(f"stop_after must be one of {', '.join(map(str, STOP_POINTS))}")
    if store.directory is None:
        raise ReshardError("moving a shard needs the store's directory")
    store.reload()
    if not 0 <= shard < store.map.logical:
        raise ReshardError(f"logical shard {shard} is not in 0..{store.map.logical - 1}")
    if target not in store.engines:
        raise ReshardError(f"no server {target!r} in the directory (servers: "
                           f"{', '.join(sorted(store.engines))})")
    source = store.map.server_of_shard(shard)
    report = MoveReport(shard, source, target, "moved")
    _settle_prepared(store, shard, report)
    store.reload()
    source = report.source = store.map.server_of_shard(shard)
    _drop_leftovers(store, shard, report)
    for line in report.recovered:
        echo(f"  recovered: {line}")
    if source == target:
        report.result = "already-there"
        return report
    started = time.monotonic()
    _copy(store, shard, source, target, ddl, echo, timeout_s)
    report.copy_s = time.monotonic() - started
    if stop_after == "copy":
        raise ReshardError(f"shard {shard}: stopped after the copy, as asked (the "
                           "subscription keeps streaming; run the move again)")
    for attempt in range(1, SWITCH_ATTEMPTS + 1):
        try:
            _switch(store, shard, source, target, report, timeout_s, stop_after)
            break
        except _LockBusy:
            echo(f"  switch {attempt}: in-flight writes held the lock past "
                 f"{LOCK_TIMEOUT_MS} ms; trying again")
    else:
        _drop_leftovers(store, shard, report)
        raise ReshardError(f"shard {shard}: could not lock its tables in "
                           f"{SWITCH_ATTEMPTS} tries; nothing moved")
    store.reload()
    _drop_leftovers(store, shard, MoveReport(shard, source, target, ""))
    return report


def _copy(store: ShardedStore, shard: int, source: str, target: str,
          ddl: Callable[[Connection], None], echo: Echo, timeout_s: float) -> None:
    gid, schema = _gid(shard), schema_name(shard)
    src, dst = store.engines[source], store.engines[target]
    marks = f'CREATE TABLE IF NOT EXISTS "{MARKS}" (token text PRIMARY KEY)'
    with store.begin_shard(shard) as conn:
        conn.execute(text(marks))
    with dst.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
        ddl(conn)
        conn.execute(text(marks))
    with _auto(src) as conn:
        conn.execute(text(f'CREATE PUBLICATION {gid} FOR TABLES IN SCHEMA "{schema}"'))
    echo(f"  copy: {schema} from {source} to {target} (logical replication)")
    with _auto(dst) as conn:
        quoted = conninfo(src).replace("'", "''")
        conn.execute(text(f"CREATE SUBSCRIPTION {gid} CONNECTION '{quoted}' "
                          f"PUBLICATION {gid} WITH (copy_data = true)"))
        deadline = time.monotonic() + timeout_s
        while True:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_subscription_rel r JOIN pg_subscription s "
                "ON s.oid = r.srsubid WHERE s.subname = :g AND r.srsubstate NOT IN ('r', 's')"
            ), {"g": gid}).scalar_one()
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise ReshardError(f"shard {shard}: the copy did not finish in {timeout_s:g} s "
                                   "(run the move again to start over)")
            time.sleep(0.02)


class _LockBusy(Exception):
    pass


def _switch(store: ShardedStore, shard: int, source: str, target: str, report: MoveReport,
            timeout_s: float, stop_after: str | None) -> None:
    gid, schema = _gid(shard), schema_name(shard)
    src, dst = store.engines[source], store.engines[target]
    token = secrets.token_hex(8)
    assert store.directory is not None
    lock = _auto(src)
    try:
        tables = [str(n) for n in lock.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> :m"),
            {"s": schema, "m": MARKS}).scalars()]
        listed = ", ".join(f'"{schema}"."{t}"' for t in tables)
        lock.execute(text("BEGIN"))
        lock.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
        paused = time.monotonic()
        try:
            lock.execute(text(f"LOCK TABLE {listed} IN EXCLUSIVE MODE"))
        except Exception as exc:
            lock.execute(text("ROLLBACK"))
            if getattr(getattr(exc, "orig", None), "sqlstate", None) == "55P03":
                raise _LockBusy from exc
            raise
        with _auto(src) as marker:
            marker.execute(text(f'INSERT INTO "{schema}"."{MARKS}" VALUES (:t)'), {"t": token})
        locked = time.monotonic()
        with dst.connect() as conn:
            deadline = time.monotonic() + timeout_s
            while not conn.execute(text(f'SELECT 1 FROM "{schema}"."{MARKS}" WHERE token = :t'),
                                   {"t": token}).first():
                conn.rollback()
                if time.monotonic() > deadline:
                    lock.execute(text("ROLLBACK"))
                    raise ReshardError(f"shard {shard}: the new server did not catch up in "
                                       f"{timeout_s:g} s; nothing moved")
                time.sleep(0.002)
            conn.rollback()
        caught_up = time.monotonic()
        # the target's rows as of now — every write the marker followed, none after (no
        # writer reaches the target before the directory names it) — to hash after the
        # switch, outside the pause, against the old copy (frozen once renamed)
        snap = _auto(dst)
        try:
            snap.execute(text("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            snap.execute(text("SELECT 1"))
            lock.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_moved"'))
            lock.execute(text(f"PREPARE TRANSACTION '{gid}'"))
            if stop_after == "prepare":
                raise ReshardError(f"shard {shard}: stopped with the switch prepared on "
                                   f"{source}, as asked (its writes wait; run the move again)")
            with store.directory.begin() as conn:
                assign(conn, shard, target)
            lock.execute(text(f"COMMIT PREPARED '{gid}'"))
            done = time.monotonic()
            with _auto(src) as old, ThreadPoolExecutor(1) as pool:  # both servers at once
                remote = pool.submit(table_hashes, snap, schema)
                ours = table_hashes(old, f"{schema}_moved")
                theirs = remote.result()
            snap.execute(text("COMMIT"))
        finally:
            snap.close()
        hashed = time.monotonic()
    finally:
        lock.close()
    report.pause_ms = (done - paused) * 1000
    report.catch_up_ms = (caught_up - locked) * 1000
    report.hash_ms = (hashed - done) * 1000
    if ours != theirs:  # kept under a name no re-run drops
        differ = sorted(t for t in set(ours) | set(theirs) if ours.get(t) != theirs.get(t))
        kept = f"{schema}_mismatch_{int(time.time())}"
        with _auto(src) as conn:
            conn.execute(text(f'ALTER SCHEMA "{schema}_moved" RENAME TO "{kept}"'))
        raise ReshardError(f"shard {shard}: row hashes differ between {source}'s old copy and "
                           f"{target} as of the switch ({', '.join(differ)}); the old copy "
                           f"stays as {kept} on {source} for inspection")
    report.tables = ours

"""Moving one logical shard between two PostgreSQL servers: how the copy time and the write
pause grow with the shard's size, against an empty shard moved in the same run (the
baseline: what the switch costs with nothing to copy or hash).

Each size: a fresh shard with N users and one order each (the shop's sharded tables), moved
with ``move_shard``; printed: the copy seconds, the pause and its catch-up part, and the
row-hash check (after the switch, outside the pause). ``--quick``: 0 and 2,000 users; else
0, 10,000 and 50,000.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

from sqlalchemy import text

from bazaar.localservers import postgres
from bazaar.shop.adapters.sharded import with_shard
from bazaar.storage import make_engine
from bazaar.storage.resharding import move_shard
from bazaar.storage.shards import ShardedStore, ShardMap, add_server, write_directory

SETTINGS = {"wal_level": "logical", "max_prepared_transactions": "8"}


def main(quick: bool) -> None:
    sizes = [0, 2_000] if quick else [0, 10_000, 50_000]
    with ExitStack() as stack:
        a, b = (stack.enter_context(postgres(settings=SETTINGS)).url for _ in range(2))
        directory = make_engine(a)
        write_directory(directory, ShardMap.spread(len(sizes), ["a"]), {"a": a})
        add_server(directory, "b", b)
        store = ShardedStore.open(directory, make_engine)
        rows = []
        for shard, n in enumerate(sizes):
            with store.begin_shard(shard, create=True) as conn:
                with_shard(shard)(conn)
                conn.execute(text(
                    "INSERT INTO users (username, display_name, password_hash, scopes) "
                    "SELECT 'u' || g, 'U', 'x', 'shop' FROM generate_series(1, :n) g"), {"n": n})
                conn.execute(text("INSERT INTO orders (user_id, status, version) "
                                  "SELECT id, 'placed', 1 FROM users"))
            began = time.monotonic()
            report = move_shard(store, shard, "b", with_shard(shard), echo=lambda _m: None)
            rows.append((n, time.monotonic() - began, report))
        store.dispose()
        directory.dispose()
    base = rows[0][2].pause_ms or 1.0
    print(f"{'users':>8} {'move s':>7} {'copy s':>7} {'pause ms':>9} {'catch-up':>9} "
          f"{'hash ms (after)':>16} {'pause / empty':>14}")
    for n, total, r in rows:
        print(f"{n:>8} {total:>7.2f} {r.copy_s:>7.2f} {r.pause_ms:>9.0f} {r.catch_up_ms:>9.0f} "
              f"{r.hash_ms:>16.0f} {r.pause_ms / base:>13.1f}x")

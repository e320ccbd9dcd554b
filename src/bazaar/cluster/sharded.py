"""The ``shards`` topology's data tier: an inventory server (products, rooms, room nights, the
outbox, and the shard directory) and K shard servers, each holding many logical shards — one
schema each, with the shop's user-owned tables (:mod:`bazaar.shop.adapters.sharded`).

Shard servers run with ``wal_level = logical`` (a logical shard is copied to another server by
logical replication) and ``max_prepared_transactions`` (the switch of a move is a prepared
transaction, so its lock outlives a crash of the mover).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine

from bazaar.cluster import postgres
from bazaar.cluster.errors import ClusterError, NodeFailed
from bazaar.cluster.state import ClusterState, Node
from bazaar.processes import free_port
from bazaar.storage import make_engine
from bazaar.storage.shards import (
    ShardedStore,
    ShardMap,
    add_server,
    read_directory,
    schema_name,
    shard_of,
    write_directory,
)

Echo = Callable[[str], None]
INVENTORY = "pg-inventory"
SHARD_NODE = re.compile(r"^pg-shard-([1-9][0-9]?)$")
SHARD_CONF = {"wal_level": "logical", "max_prepared_transactions": "16"}
INVENTORY_CONF = {"max_prepared_transactions": "16"}


def shard_node_name(i: int) -> str:
    return f"pg-shard-{i}"


def start_server(name: str, role: str, directory: Path, logs: Path, echo: Echo) -> Node:
    """initdb, start and create database ``bazaar`` on a new PostgreSQL server."""
    data = postgres.node_dir(directory / name)
    echo(f"initdb {name}")
    postgres.init_primary(data)
    node = postgres.start(name, role, data, free_port(), logs / f"{name}.log",
                          SHARD_CONF if role == "shard" else INVENTORY_CONF)
    try:
        postgres.create_database(node.port)
    except Exception as exc:
        postgres.stop(node)
        raise NodeFailed(f"{name}: creating database bazaar failed: {exc}") from exc
    return node


def create_shard_schemas(store: ShardedStore, shards: list[int]) -> None:
    from bazaar.shop.adapters.sharded import shard_ddl

    for shard in shards:
        with store.begin_shard(shard, create=True) as conn:
            shard_ddl(conn, shard)


def prepare(inventory: Node, shard_nodes: list[Node], logical: int, echo: Echo) -> None:
    """The inventory's tables and the directory on the inventory server; every logical
    shard's schema on the server the directory names (round-robin)."""
    from bazaar.shop.adapters import schema

    engine = make_engine(inventory.url)
    try:
        echo("inventory tables (products, rooms, room nights, outbox) and the directory")
        schema.metadata.create_all(engine, tables=[schema.products, schema.rooms,
                                                   schema.room_nights, schema.outbox])
        names = [n.name for n in shard_nodes]
        write_directory(engine, ShardMap.spread(logical, names),
                        {n.name: n.url for n in shard_nodes})
        with opened(inventory) as store:
            echo(f"{logical} logical shards ({schema_name(0)} … {schema_name(logical - 1)}) "
                 f"over {len(names)} servers")
            create_shard_schemas(store, list(range(logical)))
    finally:
        engine.dispose()


def register(inventory: Node, node: Node) -> None:
    engine = make_engine(inventory.url)
    try:
        add_server(engine, node.name, node.url)
    finally:
        engine.dispose()


@contextlib.contextmanager
def opened(inventory: Node) -> Iterator[ShardedStore]:
    """The store the inventory server's directory describes."""
    directory = make_engine(inventory.url)
    store = ShardedStore.open(directory, make_engine)
    try:
        yield store
    finally:
        store.dispose()
        directory.dispose()



def inventory_of(state: ClusterState) -> Node:
    found = [n for n in state.nodes if n.role == "inventory"]
    if state.spec.topology != "shards" or not found:
        raise ClusterError(f"the {state.spec.topology!r} cluster has no shards "
                           "(`bazaar cluster up shards`)")
    return found[0]


def layout(state: ClusterState) -> dict[str, list[int]]:
    """Each shard server's logical shards, as the directory says (empty if unreachable)."""
    try:
        inventory = inventory_of(state)
    except ClusterError:
        return {}
    engine: Engine = make_engine(inventory.url)
    try:
        with engine.connect() as conn:
            shard_map, _ = read_directory(conn)
    except Exception:
        return {}
    finally:
        engine.dispose()
    return {name: shard_map.shards_on(name) for name in shard_map.servers}


#: What ``cluster list`` shows of each user-owned table (id first: ids grow with time).
LISTED = {"users": ("id", "username", "created_at"),
          "orders": ("id", "user_id", "status", "created_at"),
          "reservations": ("id", "user_id", "room_id", "check_in", "check_out", "status")}
MAX_LISTED = 1000


def newest(state: ClusterState, table: str, limit: int) -> list[dict[str, object]]:
    """The ``limit`` newest rows of ``table`` across every logical shard, newest first: each
    shard's own newest rows (an index scan, ``ORDER BY id DESC LIMIT``), the sorted streams
    merged — never every row fetched and sorted. Ids carry their time, so id order is
    creation order."""
    from sqlalchemy import text

    if table not in LISTED:
        raise ClusterError(f"list what? one of {', '.join(LISTED)}, got {table!r}")
    if not 1 <= limit <= MAX_LISTED:
        raise ClusterError(f"--limit must be 1..{MAX_LISTED}, got {limit}")
    columns = ", ".join(LISTED[table])
    with opened(inventory_of(state)) as store:
        def query(conn: Connection, _shard: int) -> list[dict[str, object]]:
            rows = conn.execute(text(f"SELECT {columns} FROM {table} ORDER BY id DESC "
                                     "LIMIT :n"), {"n": limit}).mappings()
            return [dict(r) for r in rows]

        found = store.merged(query, key=lambda r: -int(str(r["id"])), limit=limit)
        for row in found:
            shard = shard_of(int(str(row["id"])))
            row["shard"], row["server"] = shard, store.map.server_of_shard(shard)
    return found

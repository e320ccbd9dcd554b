"""``cluster status``: every node's role, pid, address, whether it is alive and healthy,
and each standby's replication lag as the primary sees it (``pg_stat_replication`` through
the standby's slot: bytes of WAL not yet replayed, and PostgreSQL's replay_lag)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psycopg

from bazaar.cluster import sharded
from bazaar.cluster.postgres import dsn
from bazaar.cluster.state import ClusterState, Node, alive
from bazaar.processes import url_answers


@dataclass(frozen=True)
class NodeStatus:
    name: str
    role: str
    pid: int
    address: str
    #: running (the process we started), dead
    state: str
    #: ok, failing, or "" when dead
    health: str
    log: str
    lag_bytes: int | None = None
    lag_s: float | None = None
    #: A standby's sync_state as the primary sees it: sync, quorum, potential, async
    #: (None: not streaming).
    sync_state: str | None = None
    #: A shard server's logical shards, as the directory says (None: not a shard server).
    shards: list[int] | None = None


_LAG = """
SELECT s.slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::bigint,
       EXTRACT(EPOCH FROM r.replay_lag)::float8, r.sync_state
FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
"""


def _lags(primary: Node) -> dict[str, tuple[int | None, float | None, str | None]]:
    with contextlib.suppress(psycopg.Error), \
            psycopg.connect(dsn(primary.port, "postgres"), connect_timeout=2) as conn:
        return {str(slot): (None if b is None else int(b), None if s is None else float(s),
                            None if sync is None else str(sync))
                for slot, b, s, sync in conn.execute(_LAG).fetchall()}
    return {}


def _pg_healthy(node: Node) -> bool:
    try:
        with psycopg.connect(dsn(node.port, "postgres"), connect_timeout=2) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.Error:
        return False
    return row is not None and bool(row[0]) == (node.role == "standby")


def _redis_healthy(node: Node) -> bool:
    import redis

    try:
        client = redis.Redis(host=node.host, port=node.port, socket_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def _healthy(node: Node) -> bool:
    if node.role in ("primary", "standby", "inventory", "shard"):
        return _pg_healthy(node)
    if node.role == "cache":
        return _redis_healthy(node)
    return url_answers(f"http://{node.address}/health", timeout=3)


def status(state: ClusterState) -> list[NodeStatus]:
    primaries = [n for n in state.nodes if n.role == "primary" and alive(n)]
    lags = _lags(primaries[0]) if primaries else {}
    layout = sharded.layout(state) if state.spec.topology == "shards" else {}
    out = []
    for node in state.nodes:
        running = alive(node)
        health = ("ok" if _healthy(node) else "failing") if running else ""
        lag_bytes, lag_s, sync = (lags.get(node.name.replace("-", "_"), (None, None, None))
                                  if node.role == "standby" else (None, None, None))
        out.append(NodeStatus(node.name, node.role, node.pid, node.address,
                              "running" if running else "dead", health, node.log,
                              lag_bytes, lag_s, sync,
                              layout.get(node.name) if node.role == "shard" else None))
    return out

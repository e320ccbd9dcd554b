"""The explainer's three options on real PostgreSQL (a primary and two streaming standbys):
``all`` (``FIRST 2 (s1, s2)``), ``one`` (``ANY 1 (s1, s2)``), ``async`` (''), each with
``synchronous_commit = remote_apply``. Under ``all`` an acknowledged commit is visible on
both standbys at once; with a standby stopped, ``all`` blocks while ``one`` and ``async`` go
on — and the known hole: cancelling the blocked wait makes the commit visible on the
primary although no quorum acknowledged it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from bazaar.cluster import Node, postgres, replicated_postgres
from bazaar.processes import eventually

PROBES = 20


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    with replicated_postgres(tmp_path_factory.mktemp("modes"), standbys=2,
                             replication="all") as started:
        with _conn(started[0]) as conn:
            conn.execute("CREATE TABLE acked (id text PRIMARY KEY)")
        yield started


def _conn(node: Node) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(postgres.dsn(node.port), autocommit=True, connect_timeout=10)


def _has(node: Node, key: str) -> bool:
    with _conn(node) as conn:
        return conn.execute("SELECT 1 FROM acked WHERE id = %s", (key,)).fetchone() is not None


def _sync_states(primary: Node) -> dict[str, str]:
    with _conn(primary) as conn:
        return {str(a): str(s) for a, s in conn.execute(
            "SELECT application_name, sync_state FROM pg_stat_replication")}


def test_all_means_visible_on_both_standbys_when_acknowledged(nodes: list[Node]) -> None:
    primary, s1, s2 = nodes
    assert _sync_states(primary) == {"s1": "sync", "s2": "sync"}
    for _ in range(PROBES):
        key = uuid.uuid4().hex
        with _conn(primary) as conn:
            conn.execute("INSERT INTO acked VALUES (%s)", (key,))
        # no wait, no retry: remote_apply acknowledged it only once both had applied it
        assert _has(s1, key) and _has(s2, key)
    postgres.set_replication(primary, "one", 2)
    assert eventually(lambda: set(_sync_states(primary).values()) == {"quorum"}, timeout=30)
    postgres.set_replication(primary, "all", 2)
    assert eventually(lambda: set(_sync_states(primary).values()) == {"sync"}, timeout=30)


def test_a_stopped_standby_blocks_all_not_one_or_async_and_the_cancel_hole(
        nodes: list[Node]) -> None:
    """Last in the module: it stops standby 2."""
    primary, s1, s2 = nodes
    postgres.stop(s2)
    assert eventually(lambda: "s2" not in _sync_states(primary), timeout=30)
    for mode in ("one", "async"):
        postgres.set_replication(primary, mode, 2)
        key = uuid.uuid4().hex
        with _conn(primary) as conn:
            conn.execute("SET statement_timeout = '60s'")
            conn.execute("INSERT INTO acked VALUES (%s)", (key,))  # returns: not blocked
        assert _has(primary, key)

    postgres.set_replication(primary, "all", 2)
    key = uuid.uuid4().hex
    result: dict[str, object] = {}
    writer = psycopg.connect(postgres.dsn(primary.port), autocommit=True)
    notices: list[str] = []
    writer.add_notice_handler(lambda d: notices.append(str(d.message_primary)))
    writer_pid = writer.info.backend_pid

    def write() -> None:
        try:
            writer.execute("INSERT INTO acked VALUES (%s)", (key,))
            result["returned"] = True
        except psycopg.Error as exc:
            result["error"] = exc

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        with _conn(primary) as watch:
            def waiting() -> bool:
                row = watch.execute("SELECT wait_event FROM pg_stat_activity WHERE pid = %s",
                                    (writer_pid,)).fetchone()
                return row is not None and row[0] == "SyncRep"
            eventually(waiting, timeout=30, what="the commit waits for standby 2")
            assert thread.is_alive() and "returned" not in result  # blocked, bounded here
            assert not _has(primary, key)  # not yet visible to anyone
            # the known hole: cancel the wait — the commit is already in the primary's WAL
            watch.execute("SELECT pg_cancel_backend(%s)", (writer_pid,))
        thread.join(30)
        assert not thread.is_alive()
        assert result.get("returned") is True  # the client sees a successful COMMIT…
        assert any("canceling wait for synchronous replication" in n for n in notices)
        assert _has(primary, key)  # …visible on the primary
        # streamed to the running standby, which alone could not make it "all"
        eventually(lambda: _has(s1, key), timeout=30, what="standby 1 replays it")
        # standby 2 never had it: a failover to it now would lose an acknowledged write
    finally:
        writer.close()
        postgres.set_replication(primary, "async", 2)

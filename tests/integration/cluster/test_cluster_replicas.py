"""``cluster up replicas``: writes on the primary, reads on two streaming standbys (one 10 ms
behind), read-your-writes by the LSN token a write's response carries — over HTTP, through
nginx and two app servers, as a browser or a client library sees it; the three replication
modes on the same servers; then plan/apply shrinking the cluster."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from tests.support.cluster import cli, cli_json, user_token

from bazaar.cluster import ClusterState, Node, postgres
from bazaar.processes import eventually

PROBES = 60
COMMITS = 20


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    data = tmp_path_factory.mktemp("replicas") / "data"
    try:
        up = cli_json(data, "up", "replicas", "--app-servers", "2", "--standby-delay-ms", "10")
        yield data, up["entry"]
    finally:
        if (data / "cluster" / "state.json").exists():
            cli(data, "down", check=False)


def _admin(data: Path, client: httpx.Client) -> None:
    password = (data / "cluster" / "demo-password").read_text().strip()
    token = client.post("/auth/token", data={"username": "demo", "password": password})
    assert token.status_code == 200, token.text
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"


def _reads(entry: str, state: ClusterState) -> dict[str, float]:
    """Reads per node, summed over the app servers' /metrics."""
    total: dict[str, float] = {}
    for app in state.by_role("app"):
        text = httpx.get(f"{app.url}/metrics", timeout=10).text
        for node, value in re.findall(r'^bazaar_db_reads_total\{node="([^"]+)"\} (\S+)$',
                                      text, re.M):
            total[node] = total.get(node, 0.0) + float(value)
    return total


def test_status_shows_standbys_streaming(cluster: tuple[Path, str]) -> None:
    data, _ = cluster
    status = cli_json(data, "status")
    standbys = [n for n in status["nodes"] if n["role"] == "standby"]
    assert [n["name"] for n in standbys] == ["pg-standby-1", "pg-standby-2"]
    assert all(n["health"] == "ok" and n["lag_bytes"] is not None for n in standbys)
    assert status["replication"] == "async"  # the default
    assert [n["sync_state"] for n in standbys] == ["async", "async"]


def test_reads_after_writes_are_never_stale_and_standbys_serve_them(
        cluster: tuple[Path, str]) -> None:
    data, entry = cluster
    state = ClusterState.load(data / "cluster")
    assert state is not None
    before = _reads(entry, state)
    stale = 0
    with httpx.Client(base_url=entry, timeout=30) as client:
        _admin(data, client)
        for _ in range(PROBES):
            wrote = client.post("/products/1/restock", json={"quantity": 1})
            assert wrote.status_code == 200, wrote.text
            token = wrote.headers["bazaar-lsn"]
            assert client.cookies["bazaar_lsn"] == token  # the cookie a browser keeps
            stock = wrote.json()["stock"]
            # the listing is not cached: every read is a database read, routed by the token
            page = client.get("/products", params={"limit": 1})
            assert page.status_code == 200
            stale += page.json()["items"][0]["stock"] != stock
    assert stale == 0
    after = _reads(entry, state)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    standby = delta.get("standby-1", 0) + delta.get("standby-2", 0)
    listed = standby + delta.get("primary", 0) - PROBES  # each restock reads once, pinned
    assert listed >= PROBES
    assert standby >= 0.9 * PROBES, delta


def test_garbage_and_forged_tokens_are_ignored_not_500(cluster: tuple[Path, str]) -> None:
    _, entry = cluster
    with httpx.Client(base_url=entry, timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {user_token(client)}"
        for bad in ("garbage", "0/", "1/2/3", "'; DROP TABLE products; --", "9" * 5000,
                    "FFFFFFFF/FFFFFFFF"):
            for how in ("header", "cookie"):
                if how == "header":
                    r = client.get("/products", params={"limit": 1},
                                   headers={"Bazaar-LSN": bad})
                else:
                    client.cookies.set("bazaar_lsn", bad)
                    r = client.get("/products", params={"limit": 1})
                    client.cookies.clear()
                assert r.status_code == 200, (bad, how, r.text)
        broken_cookie = client.get("/products", params={"limit": 1},
                                   headers={"Cookie": 'bazaar_lsn="\\x00; ;;=='})
        assert broken_cookie.status_code == 200


# --- the explainer's three replication options, on this cluster's primary and standbys ---
# `all` (FIRST 2 (s1, s2)), `one` (ANY 1 (s1, s2)), `async` (''), each with remote_apply: under
# `all` an acknowledged commit is visible on both standbys at once; with a standby stopped `all`
# blocks while `one` and `async` go on — and the known hole: cancelling the blocked wait makes
# the commit visible on the primary although no quorum acknowledged it (docs/replication.md).

def _pg_nodes(data: Path) -> list[Node]:
    state = ClusterState.load(data / "cluster")
    assert state is not None
    return state.by_role("primary") + state.by_role("standby")


def _conn(node: Node) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(postgres.dsn(node.port), autocommit=True, connect_timeout=10)


def _has(node: Node, key: str) -> bool:
    with _conn(node) as conn:
        return conn.execute("SELECT 1 FROM acked WHERE id = %s", (key,)).fetchone() is not None


def _sync_states(primary: Node) -> dict[str, str]:
    with _conn(primary) as conn:
        return {str(a): str(s) for a, s in conn.execute(
            "SELECT application_name, sync_state FROM pg_stat_replication")}


def test_all_means_visible_on_both_standbys_when_acknowledged(
        cluster: tuple[Path, str]) -> None:
    primary, s1, s2 = _pg_nodes(cluster[0])
    with _conn(primary) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS acked (id text PRIMARY KEY)")
    postgres.set_replication(primary, "all", 2)  # what `up --replication all` sets
    eventually(lambda: _sync_states(primary) == {"s1": "sync", "s2": "sync"}, timeout=30,
               what="both standbys sync")
    for _ in range(COMMITS):
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
        cluster: tuple[Path, str]) -> None:
    """It stops standby 2 (the plan/apply test after it removes that dead standby)."""
    primary, s1, s2 = _pg_nodes(cluster[0])
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


def test_plan_apply_removes_a_replica_and_an_app_server_the_rest_keeps_serving(
        cluster: tuple[Path, str]) -> None:
    """Last in this module: it shrinks the cluster. The removed standby's slot is dropped on
    the primary, the removed app server leaves nginx's config before it stops; the shop
    keeps answering through what is left."""
    data, entry = cluster
    shown = cli_json(data, "plan", "remove-replica", "pg-standby-2")
    assert [t["name"] for t in shown["targets"]] == ["pg-standby-2"]
    assert cli(data, "plan", "remove-replica", "pg-standby-*", check=False).returncode == 1
    done = cli_json(data, "apply", shown["id"])
    assert done["result"] == "applied" and done["done"] == ["pg-standby-2"]
    app = cli_json(data, "plan", "remove-app", "app-2")
    assert cli_json(data, "apply", app["id"])["done"] == ["app-2"]
    state = ClusterState.load(data / "cluster")
    assert state is not None
    assert [n.name for n in state.nodes if n.role in ("standby", "app")] == [
        "pg-standby-1", "app-1"]
    primary = state.by_role("primary")[0]
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{primary.port}/postgres") as conn:
        slots = [r[0] for r in conn.execute("SELECT slot_name FROM pg_replication_slots")]
    assert slots == ["pg_standby_1"]
    conf = (data / "cluster" / "lb" / "nginx.conf").read_text()
    assert conf.count(" max_fails=") == 1
    with httpx.Client(base_url=entry, timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {user_token(client)}"
        answers = [client.get("/products", params={"limit": 1}).status_code
                   for _ in range(30)]
    assert answers == [200] * 30
    status = cli_json(data, "status")
    assert {n["name"] for n in status["nodes"]} == {n.name for n in state.nodes}

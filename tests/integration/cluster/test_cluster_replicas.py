"""``cluster up replicas``: writes on the primary, reads on two streaming standbys (one 10 ms
behind), read-your-writes by the LSN token a write's response carries — over HTTP, through
nginx and two app servers, as a browser or a client library sees it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from tests.support.cluster import cli, cli_json, user_token

from bazaar.cluster import ClusterState

PROBES = 60


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

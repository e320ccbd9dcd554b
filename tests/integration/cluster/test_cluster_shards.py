"""``bazaar cluster up shards``: an inventory server and shard servers, 64 logical shards.
Under hypothesis every row lands on the logical shard its id names, on the server the
directory names and nowhere else; ``cluster reshard`` moves a logical shard to a new server
while writers write, losing nothing and printing its pause; bad requests change nothing;
``down`` leaves no process."""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, text
from tests.support.cluster import cli, cli_json

from bazaar.cluster import ClusterError, ClusterState, alive, processes_under, reshard
from bazaar.cluster.sharded import newest
from bazaar.config import Settings
from bazaar.storage import make_engine
from bazaar.storage.shards import ShardedStore, schema_name, shard_of

INSERT_USER = text("INSERT INTO users (username, display_name, password_hash, scopes) "
                   "VALUES (:u, 'T', 'x', 'shop') RETURNING id")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data = tmp_path_factory.mktemp("shards") / "data"
    up = cli_json(data, "up", "shards", "--shards", "1")
    assert sorted(n["role"] for n in up["nodes"]) == ["inventory", "shard"]
    yield data
    if (data / "cluster" / "state.json").exists():
        cli(data, "down", check=False)


@pytest.fixture(scope="module")
def store(data_dir: Path) -> Iterator[ShardedStore]:
    state = ClusterState.load(data_dir / "cluster")
    assert state is not None
    directory = make_engine(state.by_role("inventory")[0].url)
    opened = ShardedStore.open(directory, make_engine)
    yield opened
    opened.dispose()
    directory.dispose()


def _servers(data_dir: Path) -> dict[str, Engine]:
    state = ClusterState.load(data_dir / "cluster")
    assert state is not None
    return {n.name: make_engine(n.url) for n in state.by_role("shard")}


def _where(engines: dict[str, Engine], table: str, row_id: int) -> list[tuple[str, str]]:
    """Every (server, schema) holding a row ``row_id`` in ``table``: one query per server
    over every shard schema on it."""
    found = []
    for name, engine in engines.items():
        with engine.connect() as conn:
            schemas = [str(s) for s in conn.execute(text(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'shard%'")).scalars()]
            union = " UNION ALL ".join(f"SELECT '{s}' FROM \"{s}\".{table} WHERE id = :i"
                                       for s in schemas)
            if union:
                found += [(name, str(s)) for s in conn.execute(text(union),
                                                               {"i": row_id}).scalars()]
    return found


def _add_user(store: ShardedStore, username: str) -> int:
    shard = store.map.shard_for_name(username)

    def add(conn: Connection) -> int:
        return int(conn.execute(INSERT_USER, {"u": username}).scalar_one())

    return store.run(shard, add)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.text("abcdefghij", min_size=1, max_size=12), min_size=1, max_size=6,
                unique=True))
def test_every_row_lands_on_the_shard_its_id_names(data_dir: Path, store: ShardedStore,
                                                   names: list[str]) -> None:
    engines = _servers(data_dir)
    try:
        for name in names:
            user_id = _add_user(store, f"{name}-{uuid.uuid4().hex[:8]}")
            shard = shard_of(user_id)  # the id the shard's next_id() made names the shard

            def order(conn: Connection, u: int = user_id) -> int:
                return int(conn.execute(text(
                    "INSERT INTO orders (user_id, status, version) VALUES (:u, 'placed', 1) "
                    "RETURNING id"), {"u": u}).scalar_one())

            order_id = store.run(shard, order)
            assert shard_of(order_id) == shard  # a user's orders live on the user's shard
            home = (store.map.server_of(user_id), schema_name(shard))
            assert _where(engines, "users", user_id) == [home]
            assert _where(engines, "orders", order_id) == [home]
    finally:
        for engine in engines.values():
            engine.dispose()


def test_reshard_under_writes_loses_nothing_then_down_leaves_no_process(
        data_dir: Path, store: ShardedStore) -> None:
    status = cli_json(data_dir, "status")
    layout = {n["name"]: n["shards"] for n in status["nodes"]}
    assert layout == {"pg-inventory": None, "pg-shard-1": list(range(64))}
    acked: dict[int, str] = {}
    errors: list[str] = []
    stop = threading.Event()

    def write() -> None:  # a light load on shards 0..3 (2 is the one that moves)
        rng = random.Random(7)
        for n in range(20_000):
            if stop.is_set():
                return
            name = f"w{n}-{uuid.uuid4().hex[:8]}"
            shard = rng.randrange(4)

            def add(conn: Connection, u: str = name) -> int:
                return int(conn.execute(INSERT_USER, {"u": u}).scalar_one())

            try:
                acked[store.run(shard, add)] = name
            except Exception as exc:
                errors.append(repr(exc)[:300])
            time.sleep(0.003)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.5)
        moved = cli(data_dir, "reshard", "2", "--to", "pg-shard-2")
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not errors, errors[:3]
    pause = re.search(r"write pause (\d+) ms", moved.stdout)
    assert pause and int(pause.group(1)) < 1000, moved.stdout
    assert "hashes equal on both servers" in moved.stdout
    print(f"\n{moved.stdout.strip()}\n{len(acked)} writes acknowledged, "
          f"{store.rerouted} re-routed")
    store.reload()
    assert store.map.server_of_shard(2) == "pg-shard-2"
    engines = _servers(data_dir)
    try:
        for shard in range(4):  # every acknowledged write, once, where the directory says
            ids = [i for i in acked if shard_of(i) == shard]
            server = store.map.server_of_shard(shard)
            with engines[server].connect() as conn:
                rows = dict(conn.execute(text(
                    f"SELECT id, username FROM {schema_name(shard)}.users")).all())
            assert {i: rows.get(i) for i in ids} == {i: acked[i] for i in ids}
            for other, engine in engines.items():
                if other != server:
                    with engine.connect() as conn:
                        assert conn.execute(text("SELECT to_regnamespace(:s)"),
                                            {"s": schema_name(shard)}).scalar() is None
    finally:
        for engine in engines.values():
            engine.dispose()
    status = cli_json(data_dir, "status")
    layout = {n["name"]: n["shards"] for n in status["nodes"]}
    assert layout["pg-shard-2"] == [2] and 2 not in layout["pg-shard-1"]
    listed = cli_json(data_dir, "list", "users", "--limit", "5")["rows"]
    # the cross-shard listing: 64 sorted streams merged, from both servers
    assert [r["id"] for r in listed] == sorted(acked, reverse=True)[:5]
    assert all(r["server"] == store.map.server_of(r["id"]) for r in listed)
    state0 = ClusterState.load(data_dir / "cluster")
    assert state0 is not None
    bad = cli(data_dir, "reshard", "2", "--to", "pg-inventory", check=False)  # as a user sees
    assert bad.returncode == 1 and "not a shard server" in bad.stderr, bad.stderr
    settings = Settings(data_dir=data_dir)  # the rest in-process: same code, no interpreter
    assert reshard(settings, 2, "pg-shard-2", echo=lambda _m: None).result == "already-there"
    for call, message in ((lambda: reshard(settings, 2, "db-9"), "no shard server"),
                          (lambda: reshard(settings, 64, "pg-shard-1"), "not in 0..63"),
                          (lambda: reshard(settings, 1, "pg-shard-1", stop_after="x"),
                           "--stop-after"),
                          (lambda: newest(state0,
                                          "products", 5), "list what?"),
                          (lambda: newest(state0, "users", 0), "--limit")):
        with pytest.raises(ClusterError, match=re.escape(message)):
            call()
    assert cli_json(data_dir, "status")["nodes"] == status["nodes"]  # nothing changed

    state = ClusterState.load(data_dir / "cluster")
    assert state is not None and len(state.nodes) == 3
    cli(data_dir, "down")
    assert not any(alive(n) for n in state.nodes)
    for root in {data_dir / "cluster", *(Path(n.data) for n in state.nodes if n.data)}:
        assert processes_under(root) == [], f"processes still running under {root}"

"""The orchestrator on a real PostgreSQL: same semantics, plus real concurrency — several
engines (as separate orchestrator nodes would) racing on the same rows."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.support.flow import SAGA, make_engine, work_one

from bazaar import localservers
from bazaar.flow.orchestrator import Orchestrator, Store


@pytest.fixture
def pg_url(postgres_server: localservers.LocalServer) -> Iterator[str]:
    name = f"flow_{uuid.uuid4().hex[:12]}"
    dsn = postgres_server.extra["dsn"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres_server.url.rsplit("/", 1)[0] + f"/{name}"


def test_saga_with_compensation_on_postgres(tmp_path: Path, pg_url: str) -> None:
    engine, _ = make_engine(tmp_path, pg_url)
    engine.register(SAGA)
    ok = engine.start("saga", {"order": 1})
    for queue in ("reserve", "charge", "ship", "notify"):
        work_one(engine, queue)
    assert engine.get(ok.id).status == "COMPLETED"
    bad = engine.start("saga", {"order": 2})
    work_one(engine, "reserve")
    engine.fail(engine.poll("charge", "w")[0].id, "declined", retryable=False)
    work_one(engine, "release")
    assert engine.get(bad.id).status == "FAILED"
    assert engine.store.engine.dialect.name == "postgresql"


def test_concurrent_pollers_never_share_a_task(tmp_path: Path, pg_url: str) -> None:
    engine, _ = make_engine(tmp_path, pg_url)
    engine.register(SAGA)
    for order in range(60):
        engine.start("saga", {"order": order})
    nodes = [Orchestrator(Store(pg_url)) for _ in range(4)]
    leased: list[list[str]] = [[] for _ in nodes]

    def drain(i: int) -> None:
        while True:
            got = nodes[i].poll("reserve", f"w{i}", count=3)
            if not got:
                return
            leased[i].extend(t.id for t in got)

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(nodes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [task for part in leased for task in part]
    assert len(every) == 60 and len(set(every)) == 60


def test_one_decider_per_execution_joins_exactly_once(tmp_path: Path, pg_url: str) -> None:
    engine, _ = make_engine(tmp_path, pg_url)
    branches = [[{"ref": f"b{i}", "name": "branch"}] for i in range(8)]
    engine.register({"name": "fan", "tasks": [
        {"ref": "fork", "type": "FORK_JOIN", "branches": branches},
        {"ref": "join", "type": "JOIN"},
        {"ref": "after", "name": "after"}]})
    runs = [engine.start("fan", {}).id for _ in range(5)]
    tasks = engine.poll("branch", "w", count=100)
    assert len(tasks) == 40
    nodes = [Orchestrator(Store(pg_url)) for _ in range(4)]
    errors: list[BaseException] = []

    def finish(i: int) -> None:
        try:
            for task in tasks[i::4]:
                nodes[i].complete(task.id, {"n": task.ref})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for run in runs:
        refs: list[Any] = [t.ref for t in engine.tasks(run)]
        assert refs.count("join") == 1 and refs.count("after") == 1


def test_concurrency_limit_holds_across_racing_nodes(tmp_path: Path, pg_url: str) -> None:
    from bazaar.flow.orchestrator import OrchestratorConfig

    engine, _ = make_engine(tmp_path, pg_url)
    engine.register(SAGA)
    for order in range(30):
        engine.start("saga", {"order": order})
    nodes = [Orchestrator(Store(pg_url), OrchestratorConfig(concurrency_limits={"reserve": 5}))
             for _ in range(4)]
    leased: list[str] = []
    lock = threading.Lock()

    def grab(i: int) -> None:
        for _ in range(5):
            got = nodes[i].poll("reserve", f"w{i}", count=4)
            with lock:
                leased.extend(t.id for t in got)

    threads = [threading.Thread(target=grab, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(leased) == 5 and len(set(leased)) == 5

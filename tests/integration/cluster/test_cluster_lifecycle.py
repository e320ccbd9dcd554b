"""``bazaar cluster up / status / down`` on real processes: PostgreSQL, ``bazaar up`` app
servers, nginx. Each topology answers a shop tour; nginx keeps serving GETs with an app
server killed -9; ``down`` leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.cluster import cli, cli_json, shop_tour

from bazaar.cluster import ClusterState, alive, processes_under


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    yield data
    if (data / "cluster" / "state.json").exists():  # a failed test still cleans up
        cli(data, "down", check=False)


def _assert_nothing_left(data: Path, state: ClusterState) -> None:
    assert not any(alive(n) for n in state.nodes), [n.name for n in state.nodes if alive(n)]
    for root in {data / "cluster", *(Path(n.data) for n in state.nodes if n.data)}:
        assert processes_under(root) == [], f"processes still running under {root}"


def test_cluster_behind_nginx_survives_a_killed_app_server(data_dir: Path) -> None:
    up = cli_json(data_dir, "up", "cluster", "--app-servers", "2")
    roles = sorted(n["role"] for n in up["nodes"])
    assert roles == ["app", "app", "cache", "lb", "primary"]
    entry = up["entry"]
    state = ClusterState.load(data_dir / "cluster")
    assert state is not None
    shop_tour(entry)
    status = cli_json(data_dir, "status")
    assert {n["name"]: (n["state"], n["health"]) for n in status["nodes"]} == {
        n.name: ("running", "ok") for n in state.nodes}
    for node in status["nodes"]:
        assert Path(node["log"]).parent == (data_dir / "cluster" / "logs").resolve()

    victim = state.by_role("app")[0]
    os.kill(victim.pid, signal.SIGKILL)
    with httpx.Client(base_url=entry, timeout=30) as client:
        answers = [client.get("/health").status_code for _ in range(200)]
        products = [client.get("/openapi.json").status_code for _ in range(20)]
    assert answers == [200] * 200 and products == [200] * 20
    after = cli(data_dir, "status", "--json", check=False)
    assert after.returncode == 3  # a dead node is an error for scripts
    states = {n["name"]: n["state"] for n in json.loads(after.stdout)["nodes"]}
    assert states[victim.name] == "dead"
    assert [s for name, s in states.items() if name != victim.name] == ["running"] * 4

    cli(data_dir, "down")
    _assert_nothing_left(data_dir, state)
    assert cli(data_dir, "status", check=False).returncode == 1


def test_split_then_up_twice_is_refused_then_down(data_dir: Path) -> None:
    up = cli_json(data_dir, "up", "split")
    assert sorted(n["role"] for n in up["nodes"]) == ["app", "primary"]
    shop_tour(up["entry"])
    text = cli(data_dir, "status").stdout  # piped: a header, then one line per node
    lines = [line.split("\t") for line in text.splitlines() if "\t" in line]
    assert lines[0][:6] == ["node", "role", "pid", "address", "state", "health"]
    assert sorted((row[0], row[1], row[4], row[5]) for row in lines[1:]) == [
        ("app-1", "app", "running", "ok"), ("pg-primary", "primary", "running", "ok")]
    again = cli(data_dir, "up", "split", check=False)
    assert again.returncode == 1 and "cluster down" in again.stderr
    state = ClusterState.load(data_dir / "cluster")
    assert state is not None
    cli(data_dir, "down")
    _assert_nothing_left(data_dir, state)


def test_single_is_bazaar_up(data_dir: Path) -> None:
    up = cli_json(data_dir, "up", "single")
    assert [n["role"] for n in up["nodes"]] == ["app"]
    shop_tour(up["entry"])
    services = httpx.get(f"{up['entry']}/", timeout=30).json()["services"]
    assert "orchestrator" in services  # the whole of `bazaar up`, services included
    state = ClusterState.load(data_dir / "cluster")
    assert state is not None
    cli(data_dir, "down")
    _assert_nothing_left(data_dir, state)


def test_unbuilt_topology_and_bad_counts_fail_before_starting_anything(data_dir: Path) -> None:
    for args in (["up", "cached"], ["up", "cluster", "--app-servers", "0"],
                 ["up", "shards", "--shards", "0"], ["up", "mesh"]):
        run = cli(data_dir, *args, check=False)
        assert run.returncode == 1 and run.stderr.startswith("error: "), run.stderr
    assert not (data_dir / "cluster" / "state.json").exists()

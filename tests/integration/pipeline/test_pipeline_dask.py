"""The scale path: the same preparation on a real Dask cluster — a scheduler and two workers,
each its own process — over the same Parquet lake gives exactly DuckDB's rows."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.pipeline import fill_lake
from typer.testing import CliRunner

from bazaar.cli import app
from bazaar.pipeline import Lake, dask_client, digest, prepare_dask, prepare_duckdb
from bazaar.processes import Child, free_port

DASK = [sys.executable, "-m", "dask"]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    children = [Child([*DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                       "--no-dashboard"], name="dask-scheduler", env=env,
                      log=logs / "scheduler.log", ready_port=port, ready_timeout=180)]
    for i in range(2):
        children.append(Child([*DASK, "worker", address, "--nthreads", "1", "--nworkers", "1",
                               "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}",
                               "--local-directory", str(logs / f"w{i}")],
                              name=f"dask-worker-{i}", env=env, log=logs / f"w{i}.log"))
    try:
        children[0].start()
        for child in children[1:]:
            child.spawn()
        with dask_client(address) as client:
            client.wait_for_workers(2, timeout=300)
        yield address
    finally:
        for child in reversed(children):
            if child.alive:
                child.stop(grace=10)


def test_dask_on_a_cluster_of_processes_equals_duckdb(scheduler: str, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    fill_lake(lake, 15_000, seed=11, batch=2_500)
    with dask_client(scheduler) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        # Small partitions, so rows really cross between the two workers in the shuffles.
        on_dask = prepare_dask(lake.paths(), client, partition_rows=2_000)
    on_duckdb = prepare_duckdb(lake.paths())
    assert on_duckdb.num_rows > 14_000
    assert digest(on_dask) == digest(on_duckdb)


def test_the_cli_prepares_on_the_given_scheduler(scheduler: str, tmp_path: Path) -> None:
    fill_lake(Lake(tmp_path / "lake"), 3_000, seed=12, batch=1_000)
    runner = CliRunner()
    out = {}
    for engine in ("duckdb", "dask"):
        extra = ["--scheduler", scheduler] if engine == "dask" else []
        result = runner.invoke(app, ["pipeline", "prepare", "--engine", engine, "--dir",
                                     str(tmp_path), "--json", *extra])
        assert result.exit_code == 0, result.output
        out[engine] = result.output
    import json

    assert json.loads(out["dask"])["digest"] == json.loads(out["duckdb"])["digest"]


def test_an_unreachable_scheduler_is_a_clear_cli_error(tmp_path: Path) -> None:
    fill_lake(Lake(tmp_path / "lake"), 500, seed=1, batch=500)
    result = CliRunner().invoke(app, ["pipeline", "prepare", "--engine", "dask", "--scheduler",
                                      f"tcp://127.0.0.1:{free_port()}", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no Dask scheduler" in result.output

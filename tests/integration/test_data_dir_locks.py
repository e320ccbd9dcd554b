"""Two of everything on one data dir: the second broker, orchestrator or function platform is
refused with the first one's pid, and a kill -9 of the first frees the directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bazaar.processes import Child, free_port

PY = sys.executable


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
    env.update(BAZAAR_DATA_DIR=str(data), PYTHONUNBUFFERED="1")
    return env


def _broker(data: Path, port: int) -> list[str]:
    return [PY, "-m", "bazaar.commands.broker", "serve", "--data-dir", str(data / "broker"),
            "--port", str(port)]


def _orchestrator(data: Path, port: int) -> list[str]:
    return [PY, "-m", "bazaar.cli", "flow", "serve", "--port", str(port)]


def _orchestrator_alone(data: Path, port: int) -> list[str]:
    return [PY, "-m", "bazaar.flow.orchestrator", "--db", f"sqlite:///{data}/flow.db",
            "--port", str(port)]


def _functions(data: Path, port: int) -> list[str]:
    return [PY, "-m", "bazaar.functions", "serve", "--data-dir", str(data), "--port",
            str(port), "--workers", "0"]


@pytest.mark.parametrize(("argv", "what"), [
    (_broker, "the broker log directory {data}/broker"),
    (_orchestrator, "the orchestrator database flow.db in {data}"),
    (_orchestrator_alone, "the orchestrator database flow.db in {data}"),
    (_functions, "the functions data directory {data}/functions"),
], ids=["broker", "orchestrator", "orchestrator-alone", "functions"])
def test_a_second_server_on_one_data_dir_names_the_first(
        tmp_path: Path, argv: object, what: str) -> None:
    make = argv  # a function of (data dir, port) → argv
    assert callable(make)
    data = tmp_path / "data"
    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    first = Child(make(data, port), name="first", env=_env(data), log=tmp_path / "first.log",
                  ready_port=port, ready_timeout=60).start()
    try:
        second = subprocess.run(make(data, free_port()), env=_env(data), capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 1, second.stdout + second.stderr
        assert (f"error: {what.format(data=data.resolve())} is in use by process {first.pid}"
                in second.stderr), second.stderr
        assert first.alive
        first.kill()  # kill -9: the kernel drops the lock with the process
        again = Child(make(data, port), name="again", env=_env(data),
                      log=tmp_path / "again.log", ready_port=port, ready_timeout=60)
        with again:
            assert again.alive
    finally:
        first.stop()

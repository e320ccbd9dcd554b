"""`bazaar flow …` against a real orchestrator process: register, start, ls, show (with its
"why"), the controls, queues, and clean errors for bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.orchestrator import OrchestratorProcess
from typer.testing import CliRunner

from bazaar.commands.flow import app
from bazaar.processes import free_port


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with OrchestratorProcess(tmp_path / "flow.db") as node:
        yield node.url


def test_cli_round_trip(tmp_path: Path, url: str) -> None:
    runner = CliRunner()
    definition = tmp_path / "wf.yaml"
    definition.write_text("name: cli\ntasks:\n  - {ref: a, name: step_a, "
                          "input: {x: '${workflow.input.x}'}}\n")
    result = runner.invoke(app, ["register", str(definition), "--url", url])
    assert result.exit_code == 0 and "registered cli version 1" in result.output
    result = runner.invoke(app, ["start", "cli", "--input", '{"x": 1}', "--key", "k1",
                                 "--url", url])
    assert result.exit_code == 0 and "started" in result.output
    execution_id = result.output.split()[0]
    again = runner.invoke(app, ["start", "cli", "--key", "k1", "--url", url])
    assert "already exists" in again.output
    listed = runner.invoke(app, ["ls", "--url", url])
    assert execution_id in listed.output.splitlines()[1].split("\t")  # piped: whole, no cut
    as_json = json.loads(runner.invoke(app, ["ls", "--json", "--url", url]).output)
    assert [e["id"] for e in as_json] == [execution_id]
    shown = runner.invoke(app, ["show", execution_id, "--url", url])
    assert "no worker has polled" in shown.output
    data = json.loads(runner.invoke(app, ["show", execution_id, "--json", "--url", url]).output)
    assert data["tasks"][0]["input"] == {"x": 1}
    for action, status in (("pause", "PAUSED"), ("resume", "RUNNING"),
                           ("terminate", "TERMINATED"), ("retry", "RUNNING")):
        out = runner.invoke(app, [action, execution_id, "--url", url])
        assert out.exit_code == 0 and status in out.output, out.output
    queues = runner.invoke(app, ["queues", "--url", url])
    assert "step_a" in queues.output
    assert "step_a" in json.loads(runner.invoke(app, ["queues", "--json", "--url", url]).output)


def test_cli_errors_are_clean(tmp_path: Path, url: str) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntasks: []\n")
    result = runner.invoke(app, ["register", str(bad), "--url", url])
    assert result.exit_code == 1 and "tasks must be a non-empty list" in result.output
    result = runner.invoke(app, ["show", "nope", "--url", url])
    assert result.exit_code == 1 and "no execution nope" in result.output
    result = runner.invoke(app, ["resume", "nope", "--url", url])
    assert result.exit_code == 1
    down = runner.invoke(app, ["ls", "--url", f"http://127.0.0.1:{free_port()}"])
    assert down.exit_code == 1 and "unreachable" in down.output

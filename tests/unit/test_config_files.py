"""Settings from a file beside the environment: ./bazaar.toml and ./.env, in a fixed order
of priority, and ``bazaar config show`` saying where each value came from."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bazaar.cli import app
from bazaar.config import Settings, origins

runner = CliRunner()


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("BAZAAR_"):
            monkeypatch.delenv(key)
    return tmp_path


def test_option_beats_environment_beats_dotenv_beats_toml_beats_default(
        here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (here / "bazaar.toml").write_text('port = 9001\ncheckout = "choreography"\n'
                                      'broker_port = 9101\nflow_port = 9201\n')
    (here / ".env").write_text("BAZAAR_PORT=9002\nBAZAAR_BROKER_PORT=9102\n"
                               "EDITOR=vim\n")  # another program's line: ignored
    monkeypatch.setenv("BAZAAR_PORT", "9003")
    assert Settings(port=9004).port == 9004
    s = Settings()
    assert (s.port, s.broker_port, s.flow_port, s.checkout, s.reservation_strategy) == (
        9003, 9102, 9201, "choreography", "atomic")
    where = origins()
    assert where["port"] == "BAZAAR_PORT (environment)"
    assert where["broker_port"] == str(here / ".env")
    assert where["flow_port"] == where["checkout"] == str(here / "bazaar.toml")
    assert "reservation_strategy" not in where


def test_config_show_names_each_source(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (here / "bazaar.toml").write_text("flow_port = 9201\n")
    monkeypatch.setenv("BAZAAR_MASTER_KEY", "c2VjcmV0")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["setting"]: r for r in json.loads(result.output)}
    assert rows["flow_port"]["value"] == 9201
    assert rows["flow_port"]["source"] == str(here / "bazaar.toml")
    assert rows["port"] == {"setting": "port", "value": 8000, "source": "default",
                            "variable": "BAZAAR_PORT"}
    assert rows["master_key"]["value"] == "(set)"  # never the secret itself
    assert "c2VjcmV0" not in result.output
    table = runner.invoke(app, ["config", "show"]).output.splitlines()
    assert table[0] == "setting\tvalue\tsource"
    assert f"flow_port\t9201\t{here / 'bazaar.toml'}" in table


def test_bad_files_are_plain_errors(here: Path) -> None:
    (here / ".env").write_text("BAZAAR_PROT=1\n")  # misspelt: not silently ignored
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert "BAZAAR_PROT: not a setting Bazaar knows" in result.stderr
    (here / ".env").unlink()
    (here / "bazaar.toml").write_text("port = \n")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert "error: bazaar.toml is not valid TOML" in result.stderr
    (here / "bazaar.toml").write_text("prot = 1\n")
    assert "prot (in bazaar.toml): not a setting Bazaar knows" in runner.invoke(
        app, ["config", "show"]).stderr
    (here / "bazaar.toml").write_text('checkout = "sideways"\n')
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert ("checkout (BAZAAR_CHECKOUT): Input should be 'orchestration' or 'choreography'; "
            "got 'sideways'") in result.stderr

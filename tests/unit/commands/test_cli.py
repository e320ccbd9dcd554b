"""The command line as a new user meets it: version, -h, python -m bazaar, completion, the
defaults and service ports in ``up --help``, plain errors for bad values, ``./dev`` alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bazaar import __version__
from bazaar.cli import app
from bazaar.commands._output import Col, emit_table

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
    env.update(COLUMNS="200", NO_COLOR="1", **extra)
    return env


def test_version_both_ways_and_python_dash_m() -> None:
    assert runner.invoke(app, ["--version"]).stdout == f"bazaar {__version__}\n"
    module = subprocess.run([sys.executable, "-m", "bazaar", "-V"], capture_output=True,
                            text=True, timeout=60, env=_clean_env())
    assert module.returncode == 0 and module.stdout == f"bazaar {__version__}\n"


@pytest.mark.parametrize("argv", [["-h"], ["up", "-h"], ["flow", "-h"], ["shop", "-h"]])
def test_dash_h_is_help(argv: list[str]) -> None:
    result = runner.invoke(app, argv, env=_clean_env())
    assert result.exit_code == 0, result.output
    assert "Usage: bazaar" in result.output


def test_shell_completion_is_offered() -> None:
    # From a bash, as a user types it (typer detects the shell from its parent process;
    # "; true" keeps bash from exec-ing the command in its place).
    shown = subprocess.run(["bash", "-c", f"{sys.executable} -m bazaar --show-completion; true"],
                           capture_output=True, text=True, timeout=60, env=_clean_env())
    assert shown.stderr == "", shown.stderr
    assert "_bazaar_completion" in shown.stdout and "complete " in shown.stdout


def test_up_help_shows_defaults_and_the_service_ports() -> None:
    out = runner.invoke(app, ["up", "--help"], env=_clean_env()).output
    for option, default in (("--port", "8000"), ("--host", "127.0.0.1"),
                            ("--broker-port", "9092"), ("--flow-port", "8300"),
                            ("--reservations", "atomic"), ("--checkout", "orchestration"),
                            ("--data-dir", ".bazaar")):
        line = next(text for text in out.splitlines() if f" {option} " in text)
        assert f"[default: ({default})]" in line, line
    assert "--database-url,--db" in out
    assert "BAZAAR_PORT" in out


def test_flow_serve_takes_the_same_database_option_as_up() -> None:
    out = runner.invoke(app, ["flow", "serve", "--help"], env=_clean_env()).output
    assert "--database-url,--db" in out


def test_a_bad_choice_is_a_plain_message() -> None:
    result = runner.invoke(app, ["up", "--reservations", "bogus"], env=_clean_env())
    assert result.exit_code == 2
    assert "'bogus' is not one of 'optimistic', 'pessimistic', 'atomic'" in result.output


def test_a_bad_environment_value_names_the_setting_without_pydantic_noise(
        tmp_path: Path) -> None:
    result = runner.invoke(app, ["up", "--port", "70000", "--data-dir", str(tmp_path)],
                           env=_clean_env(BAZAAR_CHECKOUT="sideways"))
    assert result.exit_code == 2
    err = result.stderr
    assert "error: invalid settings:" in err
    assert "port (--port or BAZAAR_PORT): Input should be less than or equal to 65535; got " \
           "70000" in err
    assert "checkout (--checkout or BAZAAR_CHECKOUT): Input should be 'orchestration' or " \
           "'choreography'; got 'sideways'" in err
    assert "pydantic" not in err and "type=" not in err
    assert not (tmp_path / "bazaar.db").exists()  # nothing was done


def test_dev_alone_prints_its_usage_and_nothing_else() -> None:
    run = subprocess.run([str(ROOT / "dev")], capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    lines = run.stdout.splitlines()
    assert lines[0] == "Bazaar's two set-up commands (see README):"
    assert all("./dev" in line or "README" in line for line in lines), lines
    assert "set -euo" not in run.stdout and run.stderr == ""


_ROWS = [["orchestration-vs-choreography-7f3a9c", "a long workflow name", "failed because"]]
_COLS = [Col("id", whole=True), Col("name"), Col("reason")]


def test_piped_listings_are_tab_separated_and_whole(capsys: pytest.CaptureFixture[str]) -> None:
    emit_table(_COLS, _ROWS, terminal=False)
    assert capsys.readouterr().out.splitlines() == ["id\tname\treason", "\t".join(_ROWS[0])]


@pytest.mark.parametrize("width", [30, 60, 120])
def test_no_id_is_cut_at_any_terminal_width(width: int, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    emit_table(_COLS, _ROWS, terminal=True)
    out = capsys.readouterr().out
    assert _ROWS[0][0] in out  # on one line, whole
    assert "…" not in out

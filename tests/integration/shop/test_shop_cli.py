"""``bazaar shop migrate`` and ``bazaar shop seed``: explicit, repeatable, quiet about secrets."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bazaar.cli import app


def test_migrate_then_seed_twice(tmp_path: Path) -> None:
    runner = CliRunner()
    migrated = runner.invoke(app, ["shop", "migrate", "--data-dir", str(tmp_path)])
    assert migrated.exit_code == 0, migrated.output
    assert "schema at revision 0003" in migrated.output
    first = runner.invoke(app, ["shop", "seed", "--data-dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert "added 8 products, 3 room types" in first.output
    password = (tmp_path / "demo-password").read_text().strip()
    assert password and password not in first.output
    again = runner.invoke(app, ["shop", "seed", "--data-dir", str(tmp_path)])
    assert "added 0 products, 0 room types" in again.output
    assert (tmp_path / "demo-password").read_text().strip() == password


def test_bad_settings_fail_loudly(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["shop", "migrate", "--data-dir", str(tmp_path),
                                      "--database-url", "mysql://nobody/none"])
    assert result.exit_code == 2
    assert "unsupported database" in result.output


def test_unreachable_database_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    from bazaar.localservers import free_port

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"
    result = CliRunner().invoke(app, ["shop", "migrate", "--database-url", url])
    assert result.exit_code == 3
    assert "unreachable" in result.output and "Traceback" not in result.output

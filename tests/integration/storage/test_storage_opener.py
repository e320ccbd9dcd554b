"""The one opener: house pragmas on engines and plain sqlite3 connections, write transactions
that take SQLite's lock up front, and the Alembic runner shared by every store."""

from __future__ import annotations

import sqlite3
import textwrap
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from bazaar import storage
from bazaar.shop.adapters import MIGRATIONS


def _locked_out(path: Path) -> bool:
    """Whether another connection is refused the write lock right now."""
    rival = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        rival.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    finally:
        rival.close()  # rolls back the rival's transaction if it got one
    return False


def test_sqlite_connections_carry_the_house_pragmas(tmp_path: Path) -> None:
    conn = storage.connect_sqlite(tmp_path / "a" / "q.db", synchronous="normal",
                                  busy_timeout_ms=1234)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (1,)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (1234,)
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.isolation_level is None  # autocommit: transactions are ours to begin
    conn.close()
    engine = storage.make_engine(f"sqlite:///{tmp_path / 'e.db'}",
                                 storage.EngineOptions(sqlite_synchronous="NORMAL"))
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    with storage.make_engine(f"sqlite:///{tmp_path / 'f.db'}").connect() as c:
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL by default


@pytest.mark.parametrize("level", ["sometimes", "", "FULL; DROP TABLE x"])
def test_an_unknown_synchronous_level_is_refused(tmp_path: Path, level: str) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        storage.connect_sqlite(tmp_path / "q.db", synchronous=level)
    with pytest.raises(ValueError, match="synchronous"):
        storage.make_engine(f"sqlite:///{tmp_path / 'e.db'}",
                            storage.EngineOptions(sqlite_synchronous=level))


def test_sqlite_immediate_holds_the_write_lock_and_rolls_back_on_error(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    conn = storage.connect_sqlite(path)
    conn.execute("CREATE TABLE t (x INTEGER)")
    with storage.sqlite_immediate(conn):
        assert _locked_out(path)  # taken at BEGIN, before any write
        conn.execute("INSERT INTO t VALUES (1)")
    assert not _locked_out(path)
    with pytest.raises(ZeroDivisionError), storage.sqlite_immediate(conn):
        conn.execute("INSERT INTO t VALUES (2)")
        _ = 1 / 0
    assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert not conn.in_transaction


def test_immediate_takes_the_lock_up_front_and_a_plain_begin_does_not(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    engine = storage.make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with engine.begin() as conn:
        conn.execute(text("SELECT count(*) FROM t"))
        assert not _locked_out(path)  # deferred: a reader until it writes
    with storage.immediate(engine) as conn:
        assert _locked_out(path)
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(ZeroDivisionError), storage.immediate(engine) as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
        _ = 1 / 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t")).all() == [(1,)]


def _package(root: Path, name: str, revisions: list[str]) -> storage.Migrations:
    """A migrations package on ``root`` with one table per revision."""
    folder = root / name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    previous = None
    for rev in revisions:
        (folder / f"{rev}_t.py").write_text(textwrap.dedent(f"""
            import sqlalchemy as sa
            from alembic import op
            revision = {rev!r}
            down_revision = {previous!r}
            branch_labels = None
            depends_on = None
            def upgrade():
                op.create_table("{name}_{rev}", sa.Column("id", sa.Integer, primary_key=True))
            def downgrade():
                op.drop_table("{name}_{rev}")
            """))
        previous = rev
    return storage.Migrations(name, version_table=f"{name}_version")


def test_stores_sharing_a_database_migrate_apart(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    first = _package(tmp_path, "mig_first", ["a1", "a2"])
    second = _package(tmp_path, "mig_second", ["b1"])
    engine = storage.make_engine(f"sqlite:///{tmp_path / 'db' / 'shared.db'}")
    assert storage.migrate.current(engine, first) is None
    assert storage.migrate.upgrade(engine, first, "a1") == "a1"
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO mig_first_a1 (id) VALUES (7)"))
    assert storage.migrate.upgrade(engine, second) == "b1"
    assert storage.migrate.current(engine, first) == "a1"  # the other store did not move it
    assert storage.migrate.upgrade(engine, first) == storage.migrate.head(first) == "a2"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id FROM mig_first_a1")).all() == [(7,)]
        assert conn.execute(text("SELECT count(*) FROM mig_first_a2")).scalar() == 0
    # the shop's own table is untouched by both
    assert storage.migrate.current(engine, MIGRATIONS) is None


def test_processes_opening_one_database_at_once_migrate_it_once(database_url: str) -> None:
    url = database_url
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_and_migrate() -> None:
        engine = storage.make_engine(url)
        try:
            barrier.wait(timeout=30)
            results.append(storage.migrate.upgrade(engine, MIGRATIONS))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=open_and_migrate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert results == [storage.migrate.head(MIGRATIONS)] * 4


def test_a_plain_sqlite_store_is_migrated_by_path(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    package = _package(tmp_path, "mig_plain", ["p1"])
    path = tmp_path / "sub" / "plain.db"
    assert storage.migrate.upgrade_sqlite(path, package) == "p1"
    conn = storage.connect_sqlite(path)
    assert conn.execute("SELECT version_num FROM mig_plain_version").fetchall() == [("p1",)]
    conn.close()


def test_a_package_without_revisions_is_an_error(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    package = _package(tmp_path, "mig_empty", [])
    with pytest.raises(ValueError, match="no revision"):
        storage.migrate.head(package)

"""The functions registry and event queue upgrade from the previous release's schema (raw
SQL, no version table) to head, keeping their functions, events and dead letters."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.support.migrations import revision

from bazaar import storage
from bazaar.functions import LATEST, DurableQueue, _queue, _registry
from bazaar.functions._registry import FunctionRegistry


def _previous_release(path: Path, migrations: storage.Migrations) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    for statement in revision(migrations)._STATEMENTS:
        db.execute(statement)
    return db


def _tables(path: Path) -> dict[str, list[str]]:
    db = sqlite3.connect(path)
    names = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]
    tables = {n: [c[1] for c in db.execute(f"PRAGMA table_info({n})")] for n in names}
    db.close()
    return tables


def test_the_registry_upgrades_keeping_its_functions(tmp_path: Path) -> None:
    path = tmp_path / "functions.db"
    db = _previous_release(path, _registry.MIGRATIONS)
    db.execute("INSERT INTO functions VALUES ('hello', '{\"name\": \"hello\"}', ?, 1.0, 1.0)",
               ("a" * 64,))
    db.close()
    registry = FunctionRegistry(path)
    assert registry.names() == ["hello"]
    assert registry.resolve("hello").version == LATEST
    assert registry.resolve("hello").digest == "a" * 64
    assert registry.publish("hello").version == "1"  # and it still takes writes
    registry.close()
    engine = storage.make_engine(f"sqlite:///{path}")
    assert storage.migrate.current(engine, _registry.MIGRATIONS) == storage.migrate.head(
        _registry.MIGRATIONS)
    engine.dispose()


def test_the_queue_upgrades_keeping_events_and_dead_letters(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    db = _previous_release(path, _queue.MIGRATIONS)
    db.execute("INSERT INTO events (request_id, function, qualifier, payload, enqueued_at) "
               "VALUES ('r1', 'hello', '$LATEST', x'7b7d', 1.0)")
    db.execute("INSERT INTO dead_letters (request_id, function, qualifier, payload, enqueued_at,"
               " attempts, reason, failed_at) VALUES ('r0', 'hello', '$LATEST', x'', 1.0, 3, "
               "'retries', 2.0)")
    db.close()
    queue = DurableQueue(path)
    assert queue.depth() == 1
    leased = queue.lease(10, lease_s=30.0)
    assert [(e.request_id, e.payload) for e in leased] == [("r1", b"{}")]
    assert [(d.function, d.reason, d.attempts) for d in queue.dead_letters()] == [
        ("hello", "retries", 3)]
    queue.close()


def test_new_and_upgraded_databases_have_the_same_tables(tmp_path: Path) -> None:
    for name, opener, migrations in [("functions.db", FunctionRegistry, _registry.MIGRATIONS),
                                     ("queue.db", DurableQueue, _queue.MIGRATIONS)]:
        old, new = tmp_path / f"old-{name}", tmp_path / f"new-{name}"
        _previous_release(old, migrations).close()
        opener(old).close()
        opener(new).close()
        assert _tables(old) == _tables(new)
        assert migrations.version_table in _tables(new)

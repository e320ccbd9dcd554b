"""Storage: migrations create exactly the schema, on both databases; errors are sorted."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from bazaar import localservers, storage
from bazaar.shop.adapters import MIGRATIONS, SqlUnitsOfWork, schema
from bazaar.shop.domain import Unavailable


def test_migrations_match_the_schema_and_rerun_cleanly(engine: Engine) -> None:
    assert storage.migrate.current(engine, MIGRATIONS) == storage.migrate.head(MIGRATIONS)
    assert storage.migrate.upgrade(engine, MIGRATIONS) == storage.migrate.head(MIGRATIONS)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []


def test_sqlite_runs_in_wal_mode(tmp_path: object) -> None:
    engine = storage.make_engine(f"sqlite:///{tmp_path}/x/wal.db")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_constraints_back_up_the_domain(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO products (sku, name, price_cents, stock, version) "
                          "VALUES ('X-1', 'x', 1, 0, 1)"))
    with pytest.raises(Exception) as info, engine.begin() as conn:
        conn.execute(text("UPDATE products SET stock = -1"))
    assert isinstance(storage.classify(info.value), storage.StorageIntegrityError)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "mysql://x/y"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        storage.make_engine(url)


def test_unreachable_postgres_is_unavailable_not_a_crash() -> None:
    port = localservers.free_port()  # nothing listens here
    engine = storage.make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none",
                                 storage.EngineOptions(connect_timeout_s=1))
    with pytest.raises(storage.StorageUnavailable):
        storage.migrate.upgrade(engine, MIGRATIONS)
    uow = SqlUnitsOfWork(engine, "atomic")
    with pytest.raises(Unavailable), uow() as work:
        work.products.get(1)

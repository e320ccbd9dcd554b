"""Shop fixtures: a migrated database (SQLite file or a fresh PostgreSQL database per module)
and a ``Shop`` on it under a chosen reservation strategy."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from bazaar import localservers, storage
from bazaar.shop.adapters import Argon2Hasher, SqlCatalogQueries, SqlUnitsOfWork, Strategy
from bazaar.shop.services import RetryPolicy, Shop

_counter = itertools.count()


def fresh_pg_database(server: localservers.LocalServer, prefix: str) -> str:
    """CREATE DATABASE on the session's server; return its SQLAlchemy URL."""
    name = f"{prefix}_{next(_counter)}"
    with psycopg.connect(server.extra["dsn"].rsplit("/", 1)[0] + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/{name}"


def fast_hasher() -> Argon2Hasher:
    """argon2id with small parameters: tests register many users."""
    from argon2 import PasswordHasher

    return Argon2Hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


ShopFactory = Callable[[Strategy], Shop]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}"
    server = request.getfixturevalue("postgres_server")
    return fresh_pg_database(server, "shop")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = storage.make_engine(database_url, storage.EngineOptions(pool_size=20))
    storage.migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def make_shop(engine: Engine) -> ShopFactory:
    def make(strategy: Strategy) -> Shop:
        return Shop(uow=SqlUnitsOfWork(engine, strategy), queries=SqlCatalogQueries(engine),
                    hasher=fast_hasher(),
                    retry=RetryPolicy(attempts=50, base_delay_s=0.001, max_delay_s=0.05))
    return make

"""Shop fixtures: a migrated database (SQLite file or a fresh PostgreSQL database per module)
and a ``Shop`` on it under a chosen reservation strategy, wired as production wires it
(``bootstrap.build_shop``: read cache and Bloom guard included)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from tests.support.shop import make_shop as support_shop

from bazaar import localservers, storage
from bazaar.shop.adapters import Strategy
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
        return support_shop(engine, strategy,
                            retry=RetryPolicy(attempts=50, base_delay_s=0.001, max_delay_s=0.05))
    return make

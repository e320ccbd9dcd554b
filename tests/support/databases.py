"""A migrated shop database for the tests: a SQLite file, or a fresh PostgreSQL database on the
session's real server (``postgres_server`` in the root conftest).

The fixtures are imported into the conftest of each folder that uses them (shop, storage,
lab): ``database_url`` runs a test once per database, ``engine`` is migrated to head.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from bazaar import localservers, storage
from bazaar.shop.adapters import MIGRATIONS

_counter = itertools.count()


def fresh_pg_database(server: localservers.LocalServer, prefix: str) -> str:
    """CREATE DATABASE on the session's server; return its SQLAlchemy URL."""
    name = f"{prefix}_{next(_counter)}"
    with psycopg.connect(server.extra["dsn"].rsplit("/", 1)[0] + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}"
    server = request.getfixturevalue("postgres_server")
    return fresh_pg_database(server, "shop")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = storage.make_engine(database_url, storage.EngineOptions(pool_size=20))
    storage.migrate.upgrade(engine, MIGRATIONS)
    yield engine
    engine.dispose()

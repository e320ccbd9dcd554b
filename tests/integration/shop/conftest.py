"""Shop fixtures: a migrated database (``tests.support.databases``: SQLite or PostgreSQL)
and a ``Shop`` on it under a chosen reservation strategy, wired as production wires it
(``bootstrap.build_shop``: read cache and Bloom guard included)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from tests.support.databases import database_url, engine, fresh_pg_database
from tests.support.shop import make_shop as support_shop

from bazaar.shop.adapters import Strategy
from bazaar.shop.services import ConflictRetry, Shop

# The database fixtures, shared with the storage and lab folders.
__all__ = ["ShopFactory", "database_url", "engine", "fresh_pg_database", "make_shop"]

ShopFactory = Callable[[Strategy], Shop]


@pytest.fixture
def make_shop(engine: Engine) -> ShopFactory:
    def make(strategy: Strategy) -> Shop:
        return support_shop(engine, strategy,
                            retry=ConflictRetry(attempts=50, base_delay_s=0.001, max_delay_s=0.05))
    return make

"""The shop as production wires it — :func:`bazaar.bootstrap.build_shop`: the configured
strategy, the read cache and its Bloom guard — with argon2id made cheap, because tests
register many users. Nothing else differs from what ``bazaar up`` runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from bazaar import bootstrap, storage
from bazaar.auth import Argon2Params, Passwords
from bazaar.config import Settings
from bazaar.shop.adapters import MIGRATIONS
from bazaar.shop.services import ConflictRetry, Shop

#: argon2id at 1 MiB and one pass: the production algorithm, at a test's cost.
FAST_ARGON2 = Argon2Params(memory_kib=1024, time_cost=1, parallelism=1)


def fast_passwords() -> Passwords:
    return Passwords(FAST_ARGON2)


def make_shop(engine: Engine, strategy: str = "atomic", *, retry: ConflictRetry | None = None,
              **settings: Any) -> Shop:
    """``build_shop`` on ``engine`` under ``strategy``; ``settings`` are other ``Settings``
    fields (``cache_bloom_guard=False``, …)."""
    chosen = Settings(reservation_strategy=strategy, **settings)
    return bootstrap.build_shop(chosen, engine, hasher=fast_passwords(), retry=retry)


def sqlite_shop(path: Path, strategy: str = "atomic", *, retry: ConflictRetry | None = None,
                **settings: Any) -> Shop:
    """A migrated SQLite database at ``path`` and the shop on it."""
    engine = storage.make_engine(f"sqlite:///{path}")
    storage.migrate.upgrade(engine, MIGRATIONS)
    return make_shop(engine, strategy, retry=retry, **settings)

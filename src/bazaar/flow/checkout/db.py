"""Each checkout service owns its database (a SQLite file by default); this opens one."""

from __future__ import annotations

import sqlalchemy as sa

from bazaar.flow.orchestrator.store import Store


def open_db(url: str, metadata: sa.MetaData) -> Store:
    """A store on ``url`` with ``metadata``'s tables created."""
    store = Store(url)
    metadata.create_all(store.engine)
    return store

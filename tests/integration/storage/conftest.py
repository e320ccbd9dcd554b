"""The migrated database fixtures (SQLite and PostgreSQL), shared with the shop and lab."""

from tests.support.databases import database_url, engine

__all__ = ["database_url", "engine"]

"""The migrated shop database fixtures (SQLite and PostgreSQL), for the checkout races."""

from tests.support.databases import database_url, engine

__all__ = ["database_url", "engine"]

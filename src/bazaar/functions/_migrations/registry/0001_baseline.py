"""The functions registry's functions, versions, aliases and event sources:
the baseline, as the release before migrations created it (raw SQL, as it was).

Frozen here (later changes are new revisions, never edits). ``IF NOT EXISTS``: a database
that release made without a version table is adopted as it is, its rows kept.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS functions (
      name TEXT PRIMARY KEY, spec TEXT NOT NULL, digest TEXT NOT NULL,
      created REAL NOT NULL, updated REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS versions (
      name TEXT NOT NULL, version INTEGER NOT NULL, spec TEXT NOT NULL, digest TEXT NOT NULL,
      created REAL NOT NULL, PRIMARY KEY (name, version))""",
    """CREATE TABLE IF NOT EXISTS aliases (
      name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
      PRIMARY KEY (name, alias))""",
    """CREATE TABLE IF NOT EXISTS event_sources (
      uuid TEXT PRIMARY KEY, function TEXT NOT NULL, mapping TEXT NOT NULL)""",
]


def upgrade() -> None:
    for statement in _STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ('event_sources', 'aliases', 'versions', 'functions'):
        op.execute(f"DROP TABLE IF EXISTS {table}")

"""The functions event queue and its dead letters:
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
    """CREATE TABLE IF NOT EXISTS events (
      id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, function TEXT NOT NULL,
      qualifier TEXT NOT NULL, payload BLOB NOT NULL, enqueued_at REAL NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0,
      leased_until REAL NOT NULL DEFAULT 0, last_error TEXT)""",
    """CREATE INDEX IF NOT EXISTS events_due ON events (not_before, leased_until)""",
    """CREATE TABLE IF NOT EXISTS dead_letters (
      id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, function TEXT NOT NULL,
      qualifier TEXT NOT NULL, payload BLOB NOT NULL, enqueued_at REAL NOT NULL,
      attempts INTEGER NOT NULL, reason TEXT NOT NULL, error TEXT, failed_at REAL NOT NULL)""",
]


def upgrade() -> None:
    for statement in _STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    for table in ('dead_letters', 'events'):
        op.execute(f"DROP TABLE IF EXISTS {table}")

"""The transactional outbox and the consumers' dedupe table:
the baseline, as the release before migrations created it.

Frozen here (later changes are new revisions, never edits). ``checkfirst``: a database that
release made without a version table is adopted as it is, its rows kept.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

metadata = sa.MetaData()
sa.Table(
    "outbox", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(40), nullable=False, unique=True),
    sa.Column("topic", sa.String(100), nullable=False),
    sa.Column("key", sa.String(100), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float, index=True),
)

sa.Table(
    "processed_events", metadata,
    sa.Column("consumer", sa.String(40), primary_key=True),
    sa.Column("event_id", sa.String(40), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)


def upgrade() -> None:
    metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    metadata.drop_all(op.get_bind())

"""The inventory service's stock and reservations:
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
    "inventory_stock", metadata,
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("stock", sa.Integer, nullable=False),
    sa.Column("reserved", sa.Integer, nullable=False),
    sa.Column("shipped", sa.Integer, nullable=False),
)

sa.Table(
    "inventory_reservations", metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
)


def upgrade() -> None:
    metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    metadata.drop_all(op.get_bind())

"""Orders carry their checkout: the saga's progress and why it failed or never started.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("checkout", sa.String(16), nullable=True))
        batch.add_column(sa.Column("checkout_reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("checkout_reason")
        batch.drop_column("checkout")

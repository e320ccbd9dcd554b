"""Descriptions of versions and aliases (Lambda's ``Description`` of PublishVersion,
CreateAlias and UpdateAlias): kept, not dropped.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE versions ADD COLUMN description TEXT NOT NULL DEFAULT ''")
    op.execute("ALTER TABLE aliases ADD COLUMN description TEXT NOT NULL DEFAULT ''")


def downgrade() -> None:
    op.execute("ALTER TABLE aliases DROP COLUMN description")
    op.execute("ALTER TABLE versions DROP COLUMN description")

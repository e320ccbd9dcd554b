"""Conductor's API: task definitions as registered, and task execution logs.

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
    op.create_table(
        "flow_task_defs",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "flow_task_logs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(40), nullable=False),
        sa.Column("log", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_flow_task_logs_task_id", "flow_task_logs", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_flow_task_logs_task_id", "flow_task_logs")
    op.drop_table("flow_task_logs")
    op.drop_table("flow_task_defs")

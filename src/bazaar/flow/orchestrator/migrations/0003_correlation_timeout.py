"""Executions carry Conductor's ``correlationId`` (searchable) and a deadline (the workflow's
``timeoutSeconds``), which the sweeper enforces.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flow_executions") as batch:
        batch.add_column(sa.Column("correlation_id", sa.String(255)))
        batch.add_column(sa.Column("deadline_at", sa.Float))
    op.create_index("ix_flow_executions_correlation_id", "flow_executions", ["correlation_id"])
    op.create_index("ix_flow_executions_deadline_at", "flow_executions", ["deadline_at"])


def downgrade() -> None:
    op.drop_index("ix_flow_executions_deadline_at", "flow_executions")
    op.drop_index("ix_flow_executions_correlation_id", "flow_executions")
    with op.batch_alter_table("flow_executions") as batch:
        batch.drop_column("deadline_at")
        batch.drop_column("correlation_id")

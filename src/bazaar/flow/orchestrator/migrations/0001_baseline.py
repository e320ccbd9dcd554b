"""The orchestrator's definitions, executions and task attempts:
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
    "flow_definitions", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

sa.Table(
    "flow_executions", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("output", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("idempotency_key", sa.String(200), unique=True),
    sa.Column("parent_id", sa.String(40)),
    sa.Column("parent_task_id", sa.String(40)),
    sa.Column("failure_execution_id", sa.String(40)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
    sa.Column("notes", sa.Text, nullable=False, server_default="[]"),
)

sa.Table(
    "flow_tasks", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("execution_id", sa.String(40), nullable=False, index=True),
    sa.Column("ref", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("queue", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("first_attempt", sa.Integer, nullable=False),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("output", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("retryable", sa.Boolean, nullable=False),
    sa.Column("scheduled_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("lease_s", sa.Float, nullable=False),
    sa.Column("lease_until", sa.Float),
    sa.Column("worker_id", sa.String(100)),
    sa.Column("deliveries", sa.Integer, nullable=False),
    sa.Column("wake_at", sa.Float),
    sa.Column("child_id", sa.String(40)),
    sa.Index("flow_tasks_ready", "queue", "status", "scheduled_at"),
    sa.Index("flow_tasks_status", "status", "lease_until"),
)


def upgrade() -> None:
    metadata.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    metadata.drop_all(op.get_bind())

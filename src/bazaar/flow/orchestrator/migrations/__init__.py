"""The orchestrator's Alembic revisions (version table ``flow_alembic_version``)."""

"""The functions queue's Alembic revisions
(version table ``functions_queue_alembic_version``)."""

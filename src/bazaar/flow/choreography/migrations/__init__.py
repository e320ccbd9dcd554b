"""The outbox and dedupe table's Alembic revisions (version table ``outbox_alembic_version``)."""

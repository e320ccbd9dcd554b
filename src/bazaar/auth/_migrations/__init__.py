"""Auth's Alembic revisions (version table ``auth_alembic_version``)."""

"""The functions registry's Alembic revisions
(version table ``functions_registry_alembic_version``)."""

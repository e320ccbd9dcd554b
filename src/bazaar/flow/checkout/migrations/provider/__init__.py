"""The checkout provider service's Alembic revisions
(version table ``checkout_provider_alembic_version``)."""

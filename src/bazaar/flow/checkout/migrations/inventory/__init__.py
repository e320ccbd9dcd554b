"""The checkout inventory service's Alembic revisions
(version table ``checkout_inventory_alembic_version``)."""

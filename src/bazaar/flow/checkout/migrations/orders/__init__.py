"""The checkout orders service's Alembic revisions
(version table ``checkout_orders_alembic_version``)."""

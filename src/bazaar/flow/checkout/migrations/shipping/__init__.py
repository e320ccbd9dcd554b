"""The checkout shipping service's Alembic revisions
(version table ``checkout_shipping_alembic_version``)."""

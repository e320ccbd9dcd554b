"""The checkout payments service's Alembic revisions
(version table ``checkout_payments_alembic_version``)."""

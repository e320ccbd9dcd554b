"""The checkout notifications service's Alembic revisions
(version table ``checkout_notifications_alembic_version``)."""

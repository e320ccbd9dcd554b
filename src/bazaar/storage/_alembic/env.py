"""The one Alembic environment: every store's migrations run here, always handed a live
connection and a version table by :mod:`bazaar.storage.migrate`."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection,
                  version_table=context.config.attributes["version_table"],
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()

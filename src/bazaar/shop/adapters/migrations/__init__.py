"""The shop's Alembic revisions (version table ``alembic_version``), run by
``bazaar.storage.migrate`` with :data:`bazaar.shop.adapters.MIGRATIONS`."""

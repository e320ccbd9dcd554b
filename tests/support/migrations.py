"""Helpers for the stores' upgrade tests: a database as the previous release left it, and a
check that what the migrations built is exactly the store's live tables."""

from __future__ import annotations

import importlib
from types import ModuleType

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bazaar.storage import Migrations


def revision(migrations: Migrations, module: str = "0001_baseline") -> ModuleType:
    """One revision file of a migrations package, imported."""
    return importlib.import_module(f"{migrations.package}.{module}")


def previous_release(engine: sa.Engine, migrations: Migrations) -> None:
    """The tables as the release before migrations made them: the frozen baseline, created
    directly, with no version table (that release had none)."""
    baseline = revision(migrations)
    baseline.metadata.create_all(engine)
    assert not sa.inspect(engine).has_table(migrations.version_table)


def differences(engine: sa.Engine, migrations: Migrations, metadata: sa.MetaData) -> list[object]:
    """How the database differs from ``metadata`` (its own tables only: a database may hold
    other stores' tables too)."""
    def ours(name: str | None, type_: str, _parent: object) -> bool:
        return type_ != "table" or name in metadata.tables

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "version_table": migrations.version_table, "include_name": ours})
        return list(compare_metadata(context, metadata))

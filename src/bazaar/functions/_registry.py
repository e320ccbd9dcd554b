"""Function metadata in SQLite (WAL, synchronous=FULL, opened and migrated through
``bazaar.storage``): functions, versions, aliases.

``$LATEST`` is the function's mutable head; ``publish`` freezes it as version 1, 2, … (a
version never changes: its package digest and settings are fixed). Aliases name a version.
Resolution is cached in memory: the control plane is the only writer.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from bazaar.functions._errors import Conflict, InvalidRequest, ResourceNotFound
from bazaar.functions._event_sources import EventSourceMapping
from bazaar.functions._model import LATEST, FunctionSpec, VersionRef, check_name
from bazaar.storage import Migrations, connect_sqlite, migrate

#: The registry's migrations (run at open); ``_migrations/registry`` holds the schema.
MIGRATIONS = Migrations("bazaar.functions._migrations.registry",
                        version_table="functions_registry_alembic_version")
#: fsync on every commit; the CLI and the platform may share the file.
SYNCHRONOUS, BUSY_TIMEOUT_MS = "FULL", 5000


def open_database(path: Path, migrations: Migrations) -> sqlite3.Connection:
    """``path`` migrated to head and opened with the house pragmas (WAL, fsync on commit)."""
    migrate.upgrade_sqlite(path, migrations)
    return connect_sqlite(path, synchronous=SYNCHRONOUS, busy_timeout_ms=BUSY_TIMEOUT_MS)


class FunctionRegistry:
    """Functions, their immutable versions and aliases."""

    def __init__(self, path: Path) -> None:
        self._db = open_database(path, MIGRATIONS)
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], VersionRef] = {}

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, *args: Any) -> sqlite3.Cursor:
        return self._db.execute(sql, args)

    def create(self, spec: FunctionSpec, digest: str) -> VersionRef:
        now = time.time()
        with self._lock:
            try:
                self._write("INSERT INTO functions VALUES (?, ?, ?, ?, ?)",
                            spec.name, json.dumps(spec.to_dict()), digest, now, now)
            except sqlite3.IntegrityError:
                raise Conflict(f"function {spec.name} already exists") from None
            self._cache.clear()
        return VersionRef(spec, LATEST, digest)

    def get(self, name: str) -> tuple[FunctionSpec, str]:
        """The function's $LATEST settings and package digest."""
        row = self._db.execute("SELECT spec, digest FROM functions WHERE name = ?",
                               (check_name(name),)).fetchone()
        if row is None:
            raise ResourceNotFound(f"function {name} not found")
        return FunctionSpec(**json.loads(row[0])), row[1]

    def update(self, name: str, *, spec: FunctionSpec | None = None,
               digest: str | None = None) -> VersionRef:
        """Replace $LATEST's settings and/or code."""
        with self._lock:
            old_spec, old_digest = self.get(name)
            spec = spec or old_spec
            if spec.name != name:
                raise InvalidRequest("a function cannot be renamed")
            digest = digest or old_digest
            self._write("UPDATE functions SET spec = ?, digest = ?, updated = ? WHERE name = ?",
                        json.dumps(spec.to_dict()), digest, time.time(), name)
            self._cache.clear()
        return VersionRef(spec, LATEST, digest)

    def delete(self, name: str) -> None:
        with self._lock:
            self.get(name)
            self._write("BEGIN")
            for table in ("functions", "versions", "aliases"):
                self._write(f"DELETE FROM {table} WHERE name = ?", name)
            self._write("DELETE FROM event_sources WHERE function = ?", name)
            self._write("COMMIT")
            self._cache.clear()

    def names(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT name FROM functions ORDER BY name")]

    def describe(self, name: str) -> dict[str, Any]:
        spec, digest = self.get(name)
        versions = [{"version": str(v), "digest": d, "created": c} for v, d, c in
                    self._db.execute("SELECT version, digest, created FROM versions "
                                     "WHERE name = ? ORDER BY version", (name,))]
        aliases = {a: str(v) for a, v in self._db.execute(
            "SELECT alias, version FROM aliases WHERE name = ? ORDER BY alias", (name,))}
        return {**spec.to_dict(), "digest": digest, "versions": versions, "aliases": aliases}

    def publish(self, name: str, description: str = "") -> VersionRef:
        """Freeze $LATEST as the next version number. Publishing an unchanged $LATEST again
        returns the existing latest version, as Lambda does."""
        with self._lock:
            spec, digest = self.get(name)
            row = self._db.execute("SELECT version, spec, digest FROM versions WHERE name = ? "
                                   "ORDER BY version DESC LIMIT 1", (name,)).fetchone()
            encoded = json.dumps(spec.to_dict())
            if row is not None and row[1] == encoded and row[2] == digest:
                return VersionRef(spec, str(row[0]), digest)
            version = 1 if row is None else row[0] + 1
            self._write("INSERT INTO versions (name, version, spec, digest, created, "
                        "description) VALUES (?, ?, ?, ?, ?, ?)",
                        name, version, encoded, digest, time.time(), description)
        return VersionRef(spec, str(version), digest)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        check_name(alias, "alias")
        if alias.isdigit() or alias == LATEST:
            raise InvalidRequest(f"alias {alias!r} would shadow a version")
        with self._lock:
            self.resolve(name, version)
            if version == LATEST:
                raise InvalidRequest("an alias must point at a published version")
            self._write("INSERT INTO aliases (name, alias, version) VALUES (?, ?, ?) "
                        "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
                        name, alias, int(version))
            self._cache.clear()

    def create_alias(self, name: str, alias: str, version: str, description: str = ""
                     ) -> dict[str, str]:
        """A new alias (Conflict if it exists), as Lambda's CreateAlias."""
        self.get(name)
        if self._alias_row(name, alias) is not None:
            raise Conflict(f"Alias already exists: {alias}")
        self.set_alias(name, alias, version)
        return self.update_alias(name, alias, description=description)

    def update_alias(self, name: str, alias: str, version: str | None = None,
                     description: str | None = None) -> dict[str, str]:
        """Repoint and/or redescribe an existing alias (ResourceNotFound if it has none)."""
        self.get(name)
        if self._alias_row(name, alias) is None:
            raise ResourceNotFound(f"Alias not found: {alias} of function {name}")
        if version is not None:
            self.set_alias(name, alias, version)
        if description is not None:
            with self._lock:
                self._write("UPDATE aliases SET description = ? WHERE name = ? AND alias = ?",
                            description, name, alias)
        return self.alias(name, alias)

    def _alias_row(self, name: str, alias: str) -> tuple[int, str] | None:
        row = self._db.execute("SELECT version, description FROM aliases WHERE name = ? AND "
                               "alias = ?", (name, alias)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def alias(self, name: str, alias: str) -> dict[str, str]:
        """``{"name", "version", "description"}`` of one alias, or ResourceNotFound."""
        self.get(name)
        row = self._alias_row(name, alias)
        if row is None:
            raise ResourceNotFound(f"Alias not found: {alias} of function {name}")
        return {"name": alias, "version": str(row[0]), "description": row[1]}

    def aliases(self, name: str) -> list[dict[str, str]]:
        self.get(name)
        return [{"name": a, "version": str(v), "description": d} for a, v, d in
                self._db.execute("SELECT alias, version, description FROM aliases WHERE "
                                 "name = ? ORDER BY alias", (name,))]

    def delete_alias(self, name: str, alias: str) -> None:
        self.get(name)
        with self._lock:
            self._write("DELETE FROM aliases WHERE name = ? AND alias = ?", name, alias)
            self._cache.clear()

    def versions(self, name: str) -> list[tuple[VersionRef, str]]:
        """Every published version, oldest first, with its description."""
        self.get(name)
        return [(VersionRef(FunctionSpec(**json.loads(spec)), str(v), digest), description)
                for v, spec, digest, description in self._db.execute(
                    "SELECT version, spec, digest, description FROM versions WHERE name = ? "
                    "ORDER BY version", (name,))]

    def resolve(self, name: str, qualifier: str | None = None) -> VersionRef:
        """The version a (name, qualifier) invokes: $LATEST, a version number, or an alias."""
        key = (name, qualifier or LATEST)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        qualifier = key[1]
        if qualifier == LATEST:
            spec, digest = self.get(name)
            ref = VersionRef(spec, LATEST, digest)
        else:
            self.get(name)
            version = qualifier
            if not qualifier.isdigit():
                row = self._db.execute("SELECT version FROM aliases WHERE name = ? AND alias = ?",
                                       (name, qualifier)).fetchone()
                if row is None:
                    raise ResourceNotFound(f"function {name} has no alias or version {qualifier!r}")
                version = str(row[0])
            row = self._db.execute("SELECT spec, digest FROM versions WHERE name = ? AND "
                                   "version = ?", (name, int(version))).fetchone()
            if row is None:
                raise ResourceNotFound(f"function {name} has no version {version}")
            ref = VersionRef(FunctionSpec(**json.loads(row[0])), version, row[1])
        self._cache[key] = ref
        return ref

    # --- event source mappings --------------------------------------------------------------
    def add_source(self, mapping: EventSourceMapping) -> None:
        with self._lock:
            self.get(mapping.function)
            self._write("INSERT INTO event_sources VALUES (?, ?, ?)", mapping.uuid,
                        mapping.function, json.dumps(mapping.to_dict()))

    def sources(self, function: str | None = None) -> list[EventSourceMapping]:
        rows = self._db.execute("SELECT mapping, function FROM event_sources ORDER BY rowid")
        return [EventSourceMapping(**json.loads(m)) for m, f in rows
                if function is None or f == function]

    def delete_source(self, mapping_uuid: str) -> None:
        with self._lock:
            if self._write("DELETE FROM event_sources WHERE uuid = ?",
                           mapping_uuid).rowcount == 0:
                raise ResourceNotFound(f"no event source mapping {mapping_uuid}")

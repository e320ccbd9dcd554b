"""Registered workflow definitions: validated on the way in, immutable per version, cached.

Executions pin the definition they started with (a copy travels with the execution row), so
a new version never changes a run in flight.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bazaar.flow.errors import DefinitionError, NotFound
from bazaar.flow.orchestrator.dao import ExecutionDao, encode
from bazaar.flow.orchestrator.definition import WorkflowDef
from bazaar.flow.orchestrator.state import ExecutionRow
from bazaar.flow.orchestrator.store import Store
from bazaar.flow.orchestrator.validation import parse_definition


class Definitions:
    """Definitions in ``store``, parsed once per (name, version)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._parsed: dict[tuple[str, int], WorkflowDef] = {}

    def register(self, raw: Mapping[str, Any] | str | bytes, now: float) -> WorkflowDef:
        """Validate and store a definition. Re-registering an identical one is a no-op; a
        different body under an existing (name, version) is refused: bump the version."""
        def known(name: str, version: int | None) -> bool:
            try:
                self.get(name, version)
            except NotFound:
                return False
            return True

        defn = parse_definition(raw, known_workflow=known)
        body = defn.to_dict()
        with self.store.begin() as conn:
            dao = ExecutionDao(conn, sqlite=self.store.is_sqlite)
            existing = dao.definition_body(defn.name, defn.version)
            if existing is None:
                dao.add_definition(defn.name, defn.version, body, now)
            elif encode("input", body) != existing and \
                    parse_definition(existing).to_dict() != body:
                raise DefinitionError([f"{defn.name} version {defn.version} is already "
                                       "registered with a different body; bump version"])
        return defn

    def get(self, name: str, version: int | None = None) -> WorkflowDef:
        """A registered definition; the latest version when ``version`` is None."""
        cached = self._parsed.get((name, version)) if version is not None else None
        if cached is not None:
            return cached
        with self.store.read() as conn:
            dao = ExecutionDao(conn, sqlite=self.store.is_sqlite)
            if version is None:
                version = dao.latest_version(name)
                if version is None:
                    raise NotFound(f"no workflow {name!r}")
                cached = self._parsed.get((name, version))
                if cached is not None:
                    return cached
            body = dao.definition_body(name, version)
        if body is None:
            raise NotFound(f"no workflow {name!r} version {version}")
        defn = parse_definition(body)
        self._parsed[(defn.name, defn.version)] = defn
        return defn

    def listing(self) -> list[tuple[str, int, str]]:
        """(name, version, description) of every registered definition."""
        with self.store.read() as conn:
            rows = ExecutionDao(conn, sqlite=self.store.is_sqlite).definition_bodies()
        return [(name, version, parse_definition(body).description)
                for name, version, body in rows]

    def pinned(self, execution: ExecutionRow) -> WorkflowDef:
        """The definition ``execution`` runs (its own copy, whatever was registered since)."""
        key = (execution.name, execution.version)
        defn = self._parsed.get(key)
        if defn is None:
            defn = parse_definition(execution.definition)
            self._parsed[key] = defn
        return defn

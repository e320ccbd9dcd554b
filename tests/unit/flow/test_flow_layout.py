"""The orchestrator by concept: SQL lives in the data-access object (and the tables beside
it), nowhere else; the HTTP layer is one module; the public names stay where they were."""

from __future__ import annotations

import ast
from pathlib import Path

import bazaar.flow.orchestrator as orchestrator

PACKAGE = Path(orchestrator.__file__).parent
SQL_HOMES = {"dao.py", "store.py"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_dao_and_the_tables_touch_sql() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert {p.name for p in modules} >= SQL_HOMES | {"engine.py", "transitions.py"}
    for path in modules:
        uses_sql = any(m == "sqlalchemy" or m.startswith("sqlalchemy.")
                       for m in _imports(path))
        assert uses_sql == (path.name in SQL_HOMES), path.name


def test_one_http_module_and_no_base_class_to_subclass() -> None:
    starlette_users = {p.name for p in PACKAGE.glob("*.py")
                       if any(m.startswith("starlette") for m in _imports(p))}
    # server.py only builds the app; conductor_api.py is Conductor's routes, added to the
    # same operation table by routes.py.
    assert starlette_users == {"routes.py", "conductor_api.py", "server.py"}
    assert not (PACKAGE / "api.py").exists() and not (PACKAGE / "core.py").exists()
    assert orchestrator.Orchestrator.__bases__ == (object,)


def test_the_facade_keeps_its_names() -> None:
    for name in ("ApiConfig", "Service", "Orchestrator", "OrchestratorConfig", "Store",
                 "StartResult", "SweepReport", "create_app", "build", "serve"):
        assert name in orchestrator.__all__ and hasattr(orchestrator, name), name
    from bazaar.flow.orchestrator.engine import Orchestrator
    from bazaar.flow.orchestrator.store import Store

    assert (Orchestrator, Store) == (orchestrator.Orchestrator, orchestrator.Store)

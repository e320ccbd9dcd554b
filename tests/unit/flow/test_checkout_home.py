"""Checkout's one home: the saga lives in ``bazaar.flow.checkout``; the generic choreography
package knows no checkout; the shop and the API reach the saga only through its protocols
(the workflow definitions it registers over HTTP, the events on the log) — never its
services' code or databases."""

from __future__ import annotations

import ast
from pathlib import Path

import bazaar

SRC = Path(bazaar.__file__).parent
PROTOCOLS = {"bazaar.flow.checkout.events", "bazaar.flow.checkout.orchestrated"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "bazaar.flow.checkout":
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # submodules
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_generic_choreography_knows_no_checkout() -> None:
    for path in (SRC / "flow" / "choreography").glob("*.py"):
        assert not any(m.startswith("bazaar.flow.checkout") for m in _imports(path)), path.name


def test_the_shop_and_the_api_reach_the_saga_only_through_its_protocols() -> None:
    for package in ("shop", "api"):
        for path in (SRC / package).rglob("*.py"):
            used = {m for m in _imports(path) if m.startswith("bazaar.flow.checkout")}
            assert used <= PROTOCOLS, f"{path.relative_to(SRC)} imports {used - PROTOCOLS}"


def test_the_saga_keeps_no_dead_module() -> None:
    assert not (SRC / "flow" / "checkout" / "db.py").exists()
    assert not (SRC / "flow" / "choreography" / "saga.py").exists()

"""Nothing reaches into another package's ``_private`` modules from outside it.

A module or name whose dotted path has a part starting with ``_`` belongs to the package that
holds it: ``bazaar.auth._sfv`` to ``bazaar.auth``, ``bazaar.flow.orchestrator.core._Tx`` to
``bazaar.flow.orchestrator``. Code in ``src/`` and ``bench/`` imports it only from inside that
package; everything else goes through the facade (``from bazaar.auth import ...``). Tests may
reach the internals of the component they are filed under (``tests/unit/bloom/`` may import
``bazaar.bloom._hashing``), and nothing else.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "src"
SPEEDS = {"unit", "integration", "e2e"}


def module_name(path: Path) -> tuple[str, bool]:
    """Dotted name of a file and whether it is a package's ``__init__``."""
    rel = path.relative_to(SRC) if path.is_relative_to(SRC) else path.relative_to(ROOT)
    parts = list(rel.with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def imported_names(source: str, name: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, dotted target) of every import, relative ones resolved, ``from m import a`` as
    ``m.a``."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{module}.{alias.name}"


def owner(target: str) -> str | None:
    """The package a private target belongs to, or None when the target is public."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            holder = parts[:i]
            # A private name inside a plain module belongs to that module's package.
            while holder and not (SRC.joinpath(*holder) / "__init__.py").exists():
                holder.pop()
            return ".".join(holder)
    return None


def allowed_for(path: Path, name: str) -> str:
    """The package whose internals this file may use."""
    rel = path.relative_to(ROOT)
    if rel.parts[0] == "tests" and len(rel.parts) > 3 and rel.parts[1] in SPEEDS:
        return f"bazaar.{rel.parts[2]}"
    return name


def violations(path: Path, source: str) -> list[str]:
    name, is_package = module_name(path)
    inside = allowed_for(path, name)
    found = []
    for line, target in imported_names(source, name, is_package):
        if not target.startswith("bazaar."):
            continue
        holder = owner(target)
        if holder is None or inside == holder or inside.startswith(holder + "."):
            continue
        found.append(f"{path.relative_to(ROOT)}:{line}: {target} is private to {holder}")
    return found


def python_files() -> list[Path]:
    return sorted(p for d in ("src", "bench", "tests") for p in (ROOT / d).rglob("*.py"))


def test_no_private_module_is_imported_from_outside_its_package() -> None:
    files = python_files()
    assert any(p.name == "bench_auth.py" for p in files)
    problems = [v for p in files for v in violations(p, p.read_text(encoding="utf-8"))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("path", "source", "bad"),
    [
        ("src/bazaar/lab/api_auth.py", "from bazaar.auth._sfv import parse_signature_input", True),
        ("src/bazaar/lab/api_auth.py", "from bazaar.auth import _sfv", True),
        ("src/bazaar/lab/api_auth.py", "import bazaar.auth._sfv", True),
        ("src/bazaar/lab/api_auth.py", "from bazaar.auth import parse_signature_input", False),
        ("bench/bench_bloom.py", "from bazaar.bloom._batch import NATIVE_AVAILABLE", True),
        ("src/bazaar/auth/_apps.py", "from bazaar.auth._sfv import parse_signature_input", False),
        ("src/bazaar/auth/_apps.py", "from ._sfv import parse_signature_input", False),
        ("src/bazaar/cache/_guard.py", "from ..bloom._filter import BloomFilter", True),
        ("src/bazaar/flow/orchestrator/engine.py", "from .core import _Tx", False),
        ("src/bazaar/flow/checkout/rig.py", "from bazaar.flow.orchestrator.core import _Tx", True),
        ("tests/unit/bloom/test_x.py", "from bazaar.bloom._hashing import probes", False),
        ("tests/unit/auth/test_x.py", "from bazaar.bloom._hashing import probes", True),
        ("tests/unit/test_x.py", "from bazaar.lab._registry import REGISTRY", True),
    ],
)
def test_the_check_tells_inside_from_outside(path: str, source: str, bad: bool) -> None:
    assert bool(violations(ROOT / path, source)) is bad

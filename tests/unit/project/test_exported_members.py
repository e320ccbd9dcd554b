"""Every package's facade says exactly what it exports (httpx's ``test_exported_members`` model).

``__all__`` lists every public name the facade holds and nothing else, without duplicates, and
each listed name is importable. A name that is public by accident (an import left in
``__init__.py``) or listed but gone fails here. New top-level packages are found by themselves.
"""

from __future__ import annotations
import __future__

import importlib
import pkgutil
import types

import pytest

import bazaar

# Packages that are folders of layers or entry points, not a facade of their own.
NOT_FACADES = {"bazaar.shop", "bazaar.commands"}
# Sub-packages that are facades in their own right (others are reached through their parent).
NESTED_FACADES = [
    "bazaar.flow.orchestrator",
    "bazaar.flow.choreography",
    "bazaar.broker.log",
    "bazaar.broker.protocol",
    "bazaar.broker.groups",
    "bazaar.shop.domain",
    "bazaar.shop.services",
    "bazaar.shop.adapters",
]


def facades() -> list[str]:
    top = [
        info.name
        for info in pkgutil.iter_modules(bazaar.__path__, "bazaar.")
        if info.ispkg and info.name not in NOT_FACADES
    ]
    return sorted(top) + NESTED_FACADES


def public_members(module: types.ModuleType) -> set[str]:
    """Public names the module holds, leaving out its own sub-modules and ``__future__`` flags
    (a sub-module is an attribute once anything imports it, whether or not it is exported)."""
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, __future__._Feature):
            continue
        if isinstance(value, types.ModuleType) and value.__name__.startswith(module.__name__ + "."):
            continue
        names.add(name)
    return names


def test_the_components_are_all_checked() -> None:
    found = facades()
    for component in ["storage", "bloom", "auth", "cache", "flow", "functions", "broker"]:
        assert f"bazaar.{component}" in found


@pytest.mark.parametrize("name", facades())
def test_all_equals_the_public_members(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    modules_listed = {n for n in exported if isinstance(getattr(module, n, None), types.ModuleType)}
    assert public_members(module) == set(exported) - modules_listed


@pytest.mark.parametrize("name", facades())
def test_every_exported_name_is_importable(name: str) -> None:
    module = importlib.import_module(name)
    namespace: dict[str, object] = {}
    exec(f"from {name} import *", namespace)
    for member in module.__all__:
        assert member in namespace, f"{name}.{member} is listed but cannot be imported"

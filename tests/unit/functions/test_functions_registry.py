"""Functions, immutable versions and aliases in SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from bazaar.functions import LATEST, Conflict, FunctionSpec, InvalidRequest, ResourceNotFound
from bazaar.functions._registry import FunctionRegistry

A, B = "a" * 64, "b" * 64


def test_create_publish_alias_resolve(tmp_path: Path) -> None:
    registry = FunctionRegistry(tmp_path / "f.db")
    registry.create(FunctionSpec("f"), A)
    with pytest.raises(Conflict):
        registry.create(FunctionSpec("f"), B)
    assert registry.publish("f").version == "1"
    assert registry.publish("f").version == "1"  # unchanged: no new version
    registry.update("f", digest=B, spec=FunctionSpec("f", memory_mb=256))
    assert registry.publish("f").version == "2"
    registry.set_alias("f", "live", "1")
    assert registry.resolve("f", "live").digest == A
    assert registry.resolve("f", "1").spec.memory_mb == 128  # versions never change
    assert registry.resolve("f").digest == B
    assert registry.resolve("f", LATEST).version == LATEST
    registry.set_alias("f", "live", "2")
    assert registry.resolve("f", "live").digest == B
    described = registry.describe("f")
    assert [v["version"] for v in described["versions"]] == ["1", "2"]
    assert described["aliases"] == {"live": "2"}


def test_bad_references_change_nothing(tmp_path: Path) -> None:
    registry = FunctionRegistry(tmp_path / "f.db")
    registry.create(FunctionSpec("f"), A)
    with pytest.raises(ResourceNotFound):
        registry.resolve("f", "7")
    with pytest.raises(ResourceNotFound):
        registry.resolve("f", "nope")
    with pytest.raises(ResourceNotFound):
        registry.resolve("g")
    with pytest.raises(ResourceNotFound):
        registry.set_alias("f", "live", "3")
    with pytest.raises(InvalidRequest):
        registry.set_alias("f", "live", LATEST)
    with pytest.raises(InvalidRequest):
        registry.set_alias("f", "12", "1")
    with pytest.raises(InvalidRequest):
        registry.update("f", spec=FunctionSpec("g"))
    assert registry.describe("f")["aliases"] == {}


def test_delete_and_survives_reopen(tmp_path: Path) -> None:
    registry = FunctionRegistry(tmp_path / "f.db")
    registry.create(FunctionSpec("f"), A)
    registry.create(FunctionSpec("g"), B)
    registry.publish("g")
    registry.delete("f")
    with pytest.raises(ResourceNotFound):
        registry.delete("f")
    registry.close()
    reopened = FunctionRegistry(tmp_path / "f.db")
    assert reopened.names() == ["g"]
    assert reopened.resolve("g", "1").digest == B
    with pytest.raises(ResourceNotFound):
        reopened.resolve("f")

"""FunctionSpec validation: bad settings are rejected with InvalidRequest."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bazaar.functions as functions
from bazaar.functions import FunctionSpec, InvalidRequest


@pytest.mark.parametrize("changes", [
    {"name": "1bad"}, {"name": "has space"}, {"name": "x" * 65}, {"handler": "nodot"},
    {"handler": "app.handler-x"}, {"memory_mb": 16}, {"memory_mb": 20000}, {"timeout_s": 0},
    {"timeout_s": 901}, {"isolation": "firecracker"}, {"concurrency": -1}, {"init_timeout_s": 0},
])
def test_bad_settings_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        FunctionSpec(**{"name": "ok", **changes})


def test_from_dict_rejects_unknown_keys_and_wrong_types() -> None:
    with pytest.raises(InvalidRequest, match="unknown"):
        FunctionSpec.from_dict({"name": "f", "memroy_mb": 128})
    with pytest.raises(InvalidRequest, match="wrong type"):
        FunctionSpec.from_dict({"name": "f", "memory_mb": "128"})
    with pytest.raises(InvalidRequest, match="wrong type"):
        FunctionSpec.from_dict({"name": "f", "memory_mb": True})
    assert FunctionSpec.from_dict({"name": "f", "timeout_s": 2}).timeout_s == 2


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,63}", fullmatch=True),
       st.integers(32, 10240), st.sampled_from(["process", "namespace", "vm"]))
def test_valid_specs_round_trip(name: str, memory: int, isolation: str) -> None:
    spec = FunctionSpec(name, memory_mb=memory, isolation=isolation)  # type: ignore[arg-type]
    assert FunctionSpec.from_dict(spec.to_dict()) == spec


def test_public_api_is_exactly_all() -> None:
    exported = {n for n in dir(functions) if not n.startswith("_")}
    assert set(functions.__all__) <= exported
    assert sorted(functions.__all__) == sorted(set(functions.__all__))
    for name in functions.__all__:
        assert getattr(functions, name).__doc__ or name in {"LATEST", "Isolation"}, name

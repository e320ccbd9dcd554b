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


def _env_of_size(size: int) -> dict[str, str]:
    """One variable whose compact JSON ``{"KEY":"…"}`` is exactly ``size`` bytes."""
    return {"KEY": "v" * (size - len('{"KEY":""}'))}


def test_environment_follows_lambdas_rules() -> None:
    assert FunctionSpec("f", environment=_env_of_size(4096)).environment  # the limit itself
    with pytest.raises(InvalidRequest, match="exceeded the 4KB limit"):
        FunctionSpec("f", environment=_env_of_size(4097))
    with pytest.raises(InvalidRequest, match="exceeded the 4KB limit"):  # bytes, not chars
        FunctionSpec("f", environment={"KEY": "é" * 2100})
    for bad in ({"AWS_LAMBDA_FUNCTION_NAME": "x"}, {"_HANDLER": "x"}, {"TMPDIR": "/x"}):
        with pytest.raises(InvalidRequest, match="reserved keys"):
            FunctionSpec("f", environment=bad)
    for bad_env in ({"1A": "x"}, {"A": "x"}, {"A-B": "x"}, {"AB": 1}, {"AB": "x\0y"}, ["AB"]):
        with pytest.raises(InvalidRequest):
            FunctionSpec("f", environment=bad_env)  # type: ignore[arg-type]
    spec = FunctionSpec.from_dict({"name": "f", "environment": {"ZZ": "1", "AA": "2"}})
    assert list(spec.environment) == ["AA", "ZZ"]  # one order: publish compares settings
    assert FunctionSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(InvalidRequest, match="wrong type"):
        FunctionSpec.from_dict({"name": "f", "environment": "A=1"})

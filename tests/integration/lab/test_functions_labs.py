"""The two labs run end to end at tiny sizes and write their JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from bazaar import lab


@pytest.mark.parametrize(("name", "params"), [
    ("isolation", {"n": 2, "calls": 20, "vm": 0}),  # VMs: test_functions_vm.py
    ("cold-vs-warm", {"cold": 2, "warm": 10, "bursts": 2, "size": 2, "gap_s": 0.3}),
])
def test_lab_runs_and_reports(tmp_path: Path, name: str, params: dict[str, float]) -> None:
    result = lab.run(name, quick=True, out_dir=tmp_path, params=params)
    assert (tmp_path / f"{name}.json").exists() and (tmp_path / f"{name}.png").exists()
    assert result["rows"] and result["verdict"]
    if name == "isolation":
        levels = [row[0] for row in result["rows"]]
        assert levels[-1] == "microVM (Firecracker)" and result["rows"][-1][-1].startswith(
            "published")
        assert result["summary"]["init_ms"]["namespace"] > 0
    else:
        cold, warm = result["rows"][0], result["rows"][1]
        assert cold[2] == 2 and warm[2] == 0  # cold starts counted by the platform itself

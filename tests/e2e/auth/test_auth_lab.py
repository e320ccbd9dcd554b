"""``bazaar lab run api-auth --quick`` end to end: the claim holds and the files are written."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from bazaar import lab


def test_the_api_auth_lab_holds(tmp_path: Path) -> None:
    result = lab.run("api-auth", quick=True, out_dir=tmp_path,
                     console=Console(file=open(tmp_path / "out.txt", "w")))  # noqa: SIM115
    assert result["verdict"].startswith("Held"), result["verdict"]
    assert all(row[-1] for row in result["rows"])
    written = json.loads((tmp_path / "api-auth.json").read_text())
    assert written["summary"]["replay"]["with created+nonce"] == 1
    assert (tmp_path / "api-auth.png").stat().st_size > 10_000

"""The README's quick tour, pasted twice into a shell against a real ``bazaar up`` on random
ports: every step answers as the README says, and the second run works as well as the first
(no fixed ids, usernames or dates)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from bazaar.localservers import bazaar_up

ROOT = Path(__file__).resolve().parents[2]


def tour() -> str:
    """The first ``sh`` block under "## A quick tour", as a user would paste it, less the
    ``./dev up &`` line (the test runs the shop itself) and with ``./dev sh`` dropped (the
    test's virtualenv is on PATH)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## A quick tour\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "no sh block in the quick tour"
    lines = [line for line in block.group(1).splitlines()
             if not line.startswith("./dev up")]
    return "\n".join(line.replace("./dev sh ", "") for line in lines) + "\n"


def test_the_tour_has_no_fixed_ids_usernames_or_dates() -> None:
    text = tour()
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), "a fixed date will pass the horizon"
    assert "alice" not in text
    assert not re.search(r"/orders/\d", text), "a fixed order id"


def test_the_quick_tour_runs_twice(tmp_path: Path) -> None:
    script = tour()
    with bazaar_up(tmp_path / "data") as shop:
        flow_url = httpx.get(f"{shop.url}/").json()["services"]["orchestrator"]["url"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
        env.update(API=shop.url, BAZAAR_FLOW_URL=flow_url,
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
        outputs = []
        for _ in range(2):
            run = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                                 env=env, timeout=240, cwd=ROOT)
            assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
            outputs.append(run.stdout)
    users = []
    for out in outputs:
        assert '"services"' in out and '"orchestrator"' in out  # GET /
        found = re.search(r'"username":"(tour-[^"]+)"', out)
        assert found, out[:2000]
        users.append(found.group(1))
        assert "Idempotent-Replayed: true" in out.replace("idempotent-replayed", "Idempotent-"
                                                          "Replayed")
        assert '"status":"cancelled"' in out
        assert '"check_in"' in out and '"room_id":2' in out  # the reservation was made
        assert '"field":"lines.0.quantity"' in out
        assert '"status":"completed"' in out  # the saga finished
        assert "checkout" in out  # bazaar flow ls lists the saga's execution
        assert "bazaar_http_requests_total{" in out
    assert users[0] != users[1]

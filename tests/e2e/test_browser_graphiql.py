"""A real browser (Debian chromium, headless) draws the vendored GraphiQL at /graphiql while it
can reach nothing but the loopback shop: every request the page made went to the shop."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bazaar.localservers import bazaar_up

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with bazaar_up(tmp_path_factory.mktemp("graphiql") / "data", "--no-services") as running:
        yield running.url


def test_graphiql_renders_offline(shop: str, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed: ./dev test installs the Debian package"
    net_log = tmp_path / "net.json"
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         f"--log-net-log={net_log}", "--virtual-time-budget=15000",
         "--dump-dom", f"{shop}/graphiql"],
        capture_output=True, text=True, timeout=120)
    dom = result.stdout
    assert "graphiql-container" in dom, (dom[-1500:], result.stderr[-2000:])
    assert "Loading GraphiQL" not in dom  # React replaced the placeholder
    assert "products(first: 5)" in dom  # the default query, in the editor
    urls = set(re.findall(r'"url":"(https?://[^"]+)"', net_log.read_text(errors="replace")))
    hosts = {u.split("/")[2] for u in urls}
    page_hosts = {h for h in hosts if not h.endswith((".google.com", ".googleapis.com"))}
    assert page_hosts == {shop.split("/")[2]}, sorted(urls)
    assert any(u.endswith("/graphiql/static/graphiql.min.js") for u in urls)

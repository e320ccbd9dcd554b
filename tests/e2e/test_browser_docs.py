"""A real browser (Debian chromium, headless) opens the running shop's /docs page."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bazaar.localservers import bazaar_up

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with bazaar_up(tmp_path_factory.mktemp("browser-shop") / "data", "--no-services") as running:
        yield running.url


def _chromium() -> str:
    path = shutil.which("chromium")
    assert path, "chromium is not installed: ./dev test installs the Debian package 'chromium'"
    return path


def test_docs_page_lists_every_operation_in_a_real_browser(shop: str, tmp_path: Path) -> None:
    spec = httpx.get(f"{shop}/openapi.json").json()
    result = subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", f"{shop}/docs"],
        capture_output=True, text=True, timeout=120)
    dom = result.stdout
    assert "<h1>Bazaar API</h1>" in dom, result.stderr[-2000:]
    for path, operations in spec["paths"].items():
        if path.startswith("/auth/") or path.startswith("/.well-known"):
            continue
        for method in operations:
            row = f"<td><code>{method.upper()}</code></td><td><code>{path}</code></td>"
            assert row in dom, f"{method.upper()} {path} is in /openapi.json but not on /docs"


def test_docs_page_renders_to_a_screenshot(shop: str, tmp_path: Path) -> None:
    shot = tmp_path / "docs.png"
    subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", "--window-size=1200,900", f"{shop}/docs"],
        capture_output=True, timeout=120, check=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_swagger_ui_renders_every_operation_with_no_network(shop: str, tmp_path: Path) -> None:
    """The vendored Swagger UI loads and draws the whole document while chromium can reach
    nothing but the loopback server: every request it made went to the shop."""
    spec = httpx.get(f"{shop}/openapi.json").json()
    net_log = tmp_path / "net.json"
    result = subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         f"--log-net-log={net_log}", "--virtual-time-budget=15000",
         "--dump-dom", f"{shop}/docs"],
        capture_output=True, text=True, timeout=120)
    dom = result.stdout
    assert 'class="swagger-ui' in dom, result.stderr[-2000:]
    assert "authorize" in dom  # the OAuth2 password flow's Authorize button
    for path in spec["paths"]:
        assert f'data-path="{path}"' in dom, f"Swagger UI did not draw {path}"
    urls = set(re.findall(r'"url":"(https?://[^"]+)"', net_log.read_text(errors="replace")))
    hosts = {u.split("/")[2] for u in urls}
    assert shop.split("/")[2] in hosts, "the net log recorded no request to the shop"
    # Chromium's own update and account pings (refused by the resolver rules too) aside,
    # nothing but the shop was asked for anything.
    page_hosts = {h for h in hosts if not h.endswith((".google.com", ".googleapis.com"))}
    assert page_hosts == {shop.split("/")[2]}, sorted(urls)


def test_the_vendored_swagger_ui_is_served_with_its_licence(shop: str) -> None:
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"):
        r = httpx.get(f"{shop}/docs/static/{name}")
        assert r.status_code == 200, name
    assert "Apache License" in httpx.get(f"{shop}/docs/static/LICENSE").text
    page = httpx.get(f"{shop}/docs").text
    assert "cdn" not in page.lower() and "https://" not in page

"""A real browser (Debian chromium, headless) opens the running shop's /docs page."""

from __future__ import annotations

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

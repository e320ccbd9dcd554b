"""A real browser (Debian chromium, headless) opens the running shop's /docs page."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bazaar.localservers import free_port

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("browser-shop")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bazaar.cli", "up", "--port", str(port), "--data-dir", str(data),
         "--no-services"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "bazaar up exited"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "bazaar up did not answer within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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

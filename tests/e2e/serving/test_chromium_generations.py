"""Debian Chromium loads a page over HTTP/2 and, forced to QUIC, over HTTP/3, trusting the
throwaway certificate only by its pinned key (no CA installed, no certificate errors
ignored wholesale)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api

from bazaar.processes import Child, free_port
from bazaar.serving import TlsFiles

ROOT = Path(__file__).parents[3]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, TlsFiles]]:
    data = tmp_path_factory.mktemp("chromium-generations")
    h1_port, tls_port = free_port(), free_port()
    child = Child([sys.executable, "-m", "tests.support.generations", str(data), str(h1_port),
                   str(tls_port), "chromium"], name="generations", log=data / "server.log",
                  cwd=ROOT, ready_url=f"http://127.0.0.1:{h1_port}/ready", ready_timeout=60)
    child.start()
    try:
        yield tls_port, TlsFiles(data / "tls")
    finally:
        child.stop()


def _chromium() -> str:
    path = shutil.which("chromium")
    assert path, "chromium is not installed: ./dev test installs the Debian package 'chromium'"
    return path


@pytest.mark.parametrize("generation", ["h2", "h3"])
def test_chromium_loads_the_page_over(generation: str, server: tuple[int, TlsFiles]) -> None:
    port, files = server
    args = ["--no-sandbox", "--disable-gpu",
            f"--ignore-certificate-errors-spki-list={files.spki_sha256()}",
            # Chromium tries ::1 first for localhost; TCP falls back to 127.0.0.1 by itself,
            # QUIC fails its handshake instead (the server listens on 127.0.0.1 only).
            "--host-resolver-rules=MAP localhost 127.0.0.1"]
    if generation == "h3":
        args += ["--enable-quic", f"--origin-to-force-quic-on=localhost:{port}"]
    else:
        args += ["--disable-quic"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=args)
        try:
            page = browser.new_page()
            response = page.goto(f"https://localhost:{port}/hello?from=chromium")
            assert response is not None and response.status == 200
            assert json.loads(page.inner_text("body"))["query"] == {"from": "chromium"}
            protocol = page.evaluate(
                "performance.getEntriesByType('navigation')[0].nextHopProtocol")
        finally:
            browser.close()
    assert protocol == generation

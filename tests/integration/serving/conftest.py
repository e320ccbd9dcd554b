from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bazaar.processes import Child, free_port
from bazaar.serving import TlsFiles


@dataclass
class Generations:
    h1: str
    tls_port: int
    files: TlsFiles
    child: Child

    @property
    def h2(self) -> str:
        return f"https://localhost:{self.tls_port}"


@pytest.fixture(scope="package")
def generations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generations]:
    data = tmp_path_factory.mktemp("generations")
    h1_port, tls_port = free_port(), free_port()
    token = secrets.token_hex(8)
    child = Child([sys.executable, "-m", "tests.support.generations", str(data), str(h1_port),
                   str(tls_port), token], name="generations", log=data / "server.log",
                  cwd=Path(__file__).parents[3],
                  ready=lambda: _answers(f"http://127.0.0.1:{h1_port}/ready", token),
                  ready_timeout=60)
    child.start()
    try:
        yield Generations(f"http://127.0.0.1:{h1_port}", tls_port, TlsFiles(data / "tls"),
                          child)
    finally:
        child.stop()


def _answers(url: str, token: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).text == token
    except httpx.HTTPError:
        return False

"""The shop as a user runs it for the real-client tests: ``bazaar up --no-services`` in a
child process (SQLite), its gRPC API on a free port, a customer's token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bazaar import localservers


@dataclass(frozen=True)
class RunningShop:
    url: str
    grpc_target: str
    data_dir: Path
    token: str
    admin_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def token(url: str, username: str, password: str) -> str:
    r = httpx.post(f"{url}/auth/token", json={"username": username, "password": password},
                   timeout=30)
    r.raise_for_status()
    value: str = r.json()["access_token"]
    return value


@pytest.fixture(scope="package")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShop]:
    data_dir = tmp_path_factory.mktemp("styles") / "data"
    grpc_port = localservers.free_port()
    with localservers.bazaar_up(data_dir, "--no-services",
                                # many refused calls, on purpose, from one address
                                env={"BAZAAR_GRPC_PORT": str(grpc_port),
                                     "BAZAAR_FAILED_AUTH_BURST": "100000"}) as shop:
        admin = token(shop.url, "demo", (data_dir / "demo-password").read_text().strip())
        r = httpx.post(f"{shop.url}/users", json={"username": "dora",
                                                  "password": "dora-password"}, timeout=30)
        r.raise_for_status()
        yield RunningShop(shop.url, f"127.0.0.1:{grpc_port}", data_dir,
                          token(shop.url, "dora", "dora-password"), admin)

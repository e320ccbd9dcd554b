"""The shop as a user runs it: ``bazaar up --no-services`` in a child process on a loopback
port (SQLite), with the demo admin's token and a customer's."""

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
    data_dir: Path
    admin_token: str
    user_token: str
    user_id: int

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)


def token(url: str, username: str, password: str) -> str:
    r = httpx.post(f"{url}/auth/token", json={"username": username, "password": password},
                   timeout=10)
    r.raise_for_status()
    value: str = r.json()["access_token"]
    return value


#: A browser app on another origin may call the API (CORS).
APP_ORIGIN = "http://app.example.test"
SHOP_ENV = {"BAZAAR_CORS_ORIGINS": f'["{APP_ORIGIN}"]'}


@pytest.fixture(scope="package")
def shop_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShop]:
    data_dir = tmp_path_factory.mktemp("api") / "data"
    with localservers.bazaar_up(data_dir, "--no-services", env=SHOP_ENV) as shop:
        admin = token(shop.url, "demo", (data_dir / "demo-password").read_text().strip())
        r = httpx.post(f"{shop.url}/users", json={"username": "carol",
                                                  "password": "carol-password"}, timeout=10)
        r.raise_for_status()
        user = token(shop.url, "carol", "carol-password")
        yield RunningShop(shop.url, data_dir, admin, user, int(r.json()["id"]))

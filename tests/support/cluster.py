"""Running ``bazaar cluster`` as a user does (the CLI, as a process), and a shop tour over
HTTP against whatever entry point a topology gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx


def cli(data_dir: Path, *args: str, check: bool = True, timeout: float = 240
        ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
    run = subprocess.run([sys.executable, "-m", "bazaar.cli", "cluster", *args, "--data-dir",
                          str(data_dir)], capture_output=True, text=True, env=env,
                         timeout=timeout)
    if check and run.returncode != 0:
        raise AssertionError(f"cluster {' '.join(args)} exited {run.returncode}:\n"
                             f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    return run


def cli_json(data_dir: Path, *args: str, check: bool = True) -> Any:
    return json.loads(cli(data_dir, *args, "--json", check=check).stdout)


def user_token(client: httpx.Client) -> str:
    """A new user and a Bearer token for it."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    created = client.post("/users", json={"username": name, "password": "correct horse"})
    assert created.status_code == 201, created.text
    token = client.post("/auth/token", data={"username": name, "password": "correct horse"})
    assert token.status_code == 200, token.text
    return str(token.json()["access_token"])


def shop_tour(entry: str) -> None:
    """Register, log in, browse, read a product, place an order and read it back."""
    with httpx.Client(base_url=entry, timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {user_token(client)}"
        page = client.get("/products", params={"limit": 5})
        assert page.status_code == 200, page.text
        first = page.json()["items"][0]
        product = client.get(f"/products/{first['id']}")
        assert product.status_code == 200 and product.json()["sku"] == first["sku"]
        order = client.post("/orders", json={"lines": [{"product_id": first["id"],
                                                         "quantity": 1}]})
        assert order.status_code == 201, order.text
        again = client.get(f"/orders/{order.json()['id']}")
        assert again.status_code == 200 and again.json()["lines"][0]["quantity"] == 1

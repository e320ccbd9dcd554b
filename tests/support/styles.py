"""The shop in-process for the API-style tests: the production app (``bootstrap.build_app``)
on a migrated SQLite database with the demo catalogue, an admin's and a customer's token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from starlette.applications import Starlette
from starlette.testclient import TestClient
from tests.support.shop import make_shop

from bazaar import bootstrap, storage
from bazaar.config import Settings
from bazaar.shop.services import users


@dataclass
class LocalShop:
    runtime: bootstrap.Runtime
    app: Starlette
    client: TestClient
    admin: dict[str, str]
    user: dict[str, str]
    user_id: int

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.app.state.grpc_port}"

    @property
    def engine(self) -> Engine:
        return self.runtime.engine


def login(client: TestClient, username: str, password: str) -> dict[str, str]:
    r = client.post("/auth/token", json={"username": username, "password": password})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@contextmanager
def local_shop(data_dir: Path, *, grpc: bool = False, **settings_: Any) -> Iterator[LocalShop]:
    """The app; with ``grpc`` its lifespan serves gRPC on a free port too; ``settings_``
    are other ``Settings`` fields (rate limits, say)."""
    settings = Settings(data_dir=data_dir, **settings_)
    engine = storage.make_engine(settings.effective_database_url)
    runtime = bootstrap.Runtime(settings, engine, make_shop(engine))
    bootstrap.migrate_database(runtime)
    demo = bootstrap.seed(runtime).demo_password
    assert demo is not None
    user = users.register(runtime.shop, "carol", "Carol", "carol-password")
    app = bootstrap.build_app(runtime, grpc_port=0 if grpc else None)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield LocalShop(runtime, app, client, login(client, "demo", demo),
                        login(client, "carol", "carol-password"), user.id)
    runtime.close()


@contextmanager
def counted_statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)

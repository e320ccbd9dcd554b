"""The composition root: settings in, a running shop out. The only module that builds
adapters, and only when called (never at import time).

Drop-in points for other components: ``identity`` (``bazaar.auth``: Bearer tokens or RFC 9421
signatures, in :func:`build_app`), ``reader``/``invalidation`` (``bazaar.cache`` wraps the
catalogue reads in :func:`build_shop`).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text
from starlette.applications import Starlette

from bazaar.auth import AuthConfig, AuthSystem, Credential, Passwords, RateLimit, Secret
from bazaar.cache import CachePolicy, Structures, memory_structures, redis_structures
from bazaar.config import Settings
from bazaar.shop.adapters import SqlCatalogQueries, SqlUnitsOfWork, translated
from bazaar.shop.adapters.guarded_reads import GuardedCatalog, guarded_catalog
from bazaar.shop.services import RetryPolicy, Shop, users
from bazaar.shop.services.seed import SeedResult, seed_demo
from bazaar.storage import EngineOptions, make_engine, migrate
from bazaar.web import Limits


@dataclass
class Runtime:
    """What :func:`build` wires: close it when done."""

    settings: Settings
    engine: Engine
    shop: Shop

    def close(self) -> None:
        self.engine.dispose()


def build_engine(settings: Settings, options: EngineOptions | None = None) -> Engine:
    return make_engine(settings.effective_database_url, options)


def build_shop(settings: Settings, engine: Engine, retry: RetryPolicy | None = None) -> Shop:
    """The shop's ports on ``engine``, under the configured reservation strategy."""
    queries = SqlCatalogQueries(engine)
    catalog = build_read_cache(settings, engine, queries)
    return Shop(uow=SqlUnitsOfWork(engine, settings.reservation_strategy), queries=queries,
                hasher=Passwords(), retry=retry or RetryPolicy(),  # argon2id at OWASP's cost
                reader=catalog, invalidation=catalog)


def build_read_cache(settings: Settings, engine: Engine,
                     queries: SqlCatalogQueries) -> GuardedCatalog:
    """bazaar.cache over product and room reads, per ``cache_url`` and the defences."""
    policy = CachePolicy(ttl_s=settings.cache_ttl_s, cache_nulls=settings.cache_nulls,
                         null_ttl_s=settings.cache_null_ttl_s)
    return guarded_catalog(queries, engine, cache_url=settings.cache_url, policy=policy,
                          guard=settings.cache_bloom_guard)


def build_structures(settings: Settings) -> Structures:
    """Counters, commenters and login bitmaps: in Redis when the cache is Redis."""
    if settings.cache_url.startswith(("redis://", "rediss://")):
        return redis_structures(settings.cache_url)
    return memory_structures()


def build(settings: Settings, options: EngineOptions | None = None) -> Runtime:
    engine = build_engine(settings, options)
    return Runtime(settings, engine, build_shop(settings, engine))


def health_check(engine: Engine) -> Callable[[], None]:
    """``SELECT 1``; raises the shop's ``Unavailable`` if the database is unreachable."""
    def check() -> None:
        with translated(), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    return check


class ShopCredentials:
    """bazaar.auth's ``CredentialStore`` port over the shop's users."""

    def __init__(self, shop: Shop) -> None:
        self._shop = shop

    def find_by_username(self, username: str) -> Credential | None:
        found = users.credentials(self._shop, username)
        if found is None:
            return None
        return Credential(str(found.user_id), username, found.password_hash,
                          frozenset(found.scopes))

    def update_password_hash(self, user_id: str, password_hash: str) -> None:
        users.set_password_hash(self._shop, int(user_id), password_hash)


def auth_config(settings: Settings) -> AuthConfig:
    """bazaar.auth's typed config from the settings (its ``# --- auth`` section)."""
    return AuthConfig(
        public_origin=settings.effective_public_origin, data_dir=settings.data_dir,
        master_key=(Secret(settings.master_key.get_secret_value())
                    if settings.master_key is not None else None),
        redis_url=settings.redis_url, issuer=settings.jwt_issuer,
        access_token_ttl_s=settings.access_token_ttl_s,
        refresh_token_ttl_s=settings.refresh_token_ttl_s,
        signature_window_s=settings.signature_window_s, clock_skew_s=settings.clock_skew_s,
        rate_limit=RateLimit(settings.rate_limit_per_s, settings.rate_limit_burst),
        failed_auth_limit=RateLimit(settings.failed_auth_per_s, settings.failed_auth_burst),
        audit_log=settings.data_dir / "auth" / "audit.log")


def build_auth(runtime: Runtime) -> AuthSystem:
    """Tokens and signed requests for the shop (auth's tables are created if missing)."""
    from bazaar.auth import build_auth as build_auth_system

    return build_auth_system(runtime.engine, auth_config(runtime.settings),
                             ShopCredentials(runtime.shop))


def web_limits(settings: Settings) -> Limits:
    """The API listener's limits (bazaar.web) from the settings."""
    return Limits(max_body=settings.max_body_bytes, body_timeout_s=settings.body_timeout_s,
                  header_timeout_s=settings.header_timeout_s,
                  max_connections=settings.max_connections)


def build_app(runtime: Runtime) -> Starlette:
    from bazaar.api import create_app
    from bazaar.api.auth_docs import auth_operations
    from bazaar.api.checkout import CheckoutRoutes
    from bazaar.api.engagement import EngagementRoutes
    from bazaar.auth import exempt_paths
    from bazaar.shop.adapters.checkout import LazyCheckout

    shop = runtime.shop
    auth = build_auth(runtime)
    # Everything needs a Bearer token or an RFC 9421 signature except these.
    # OPTIONS only says which methods a path has (as /openapi.json does, publicly).
    public = exempt_paths(("POST", "/users"), ("GET", "/health"), ("POST", "/auth/*"),
                          ("GET", "/.well-known/jwks.json"), ("GET", "/docs"),
                          ("GET", "/docs/static/*"), ("GET", "/openapi.json"),
                          ("OPTIONS", "/*"))
    catalog = shop.reader
    engagement = EngagementRoutes(shop, build_structures(runtime.settings),
                                  catalog.stats if isinstance(catalog, GuardedCatalog) else None)
    # POST /orders/{id}/checkout: the saga, orchestrated or choreographed (BAZAAR_CHECKOUT)
    saga = LazyCheckout(runtime.settings.checkout, runtime.settings.flow_url,
                        runtime.settings.data_dir / "saga")
    checkout = CheckoutRoutes(shop, saga, saga)
    app = create_app(shop, identity=lambda inner: auth.middleware(inner, exempt=public),
                     health=health_check(runtime.engine),
                     extra=engagement.operations() + checkout.operations() + auth_operations(),
                     limits=web_limits(runtime.settings))
    # /auth/token, /auth/refresh, /auth/revoke, /.well-known/jwks.json
    app.router.routes.extend(auth.routes())
    return app


def migrate_database(runtime: Runtime) -> str:
    return migrate.upgrade(runtime.engine)


def seed(runtime: Runtime) -> SeedResult:
    """Seed the demo catalogue; a newly made demo password goes to a 0600 file, not a log."""
    result = seed_demo(runtime.shop)
    if result.demo_password is not None:
        path = demo_password_file(runtime.settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(result.demo_password + "\n")
    return result


def demo_password_file(settings: Settings) -> Path:
    return settings.data_dir / "demo-password"


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def up(settings: Settings, echo: Callable[[str], None] = print, services: bool = True) -> None:
    """``bazaar up``: migrate, seed the demo, start the services beside the API (the
    embedded broker, the saga's orchestrator and checkout services), serve until Ctrl-C."""
    import uvicorn

    from bazaar.supervisor import running_services, with_service_ports
    from bazaar.web import uvicorn_config

    if services:
        settings = with_service_ports(settings)
    runtime = build(settings)
    stack = contextlib.ExitStack()
    try:
        revision = migrate_database(runtime)
        echo(f"database: {_redacted(settings.effective_database_url)} (schema {revision}, "
             f"reservations: {settings.reservation_strategy})")
        if settings.seed_demo:
            result = seed(runtime)
            echo(f"demo data: {result.products_added} products and {result.rooms_added} room "
                 f"types added; demo admin user id {result.demo_user_id} "
                 f"(password in {demo_password_file(settings)})")
        if services:
            supervisor = stack.enter_context(running_services(settings, echo))
            log = settings.kafka_bootstrap or f"127.0.0.1:{settings.broker_port} (embedded)"
            echo(f"log:  {log}; checkout: {settings.checkout}"
                 + (f" (orchestrator {settings.flow_url})"
                    if settings.checkout == "orchestration" else "")
                 + f"; {len(supervisor.pids())} services, logs in "
                 f"{settings.data_dir / 'logs'}")
        app = build_app(runtime)
        sock = _listen(settings.host, settings.port)
        port = sock.getsockname()[1]
        shown = f"[{settings.host}]" if ":" in settings.host else settings.host
        base = f"http://{shown}:{port}"
        echo(f"API:  {base}/\ndocs: {base}/docs   (OpenAPI: {base}/openapi.json)")
        echo(f"auth: POST {base}/auth/token (username, password) for a Bearer token, or sign "
             "requests as an app (`bazaar auth apps create`). Ctrl-C stops.")
        config = uvicorn_config(app, web_limits(settings), loop="uvloop",
                                log_level=settings.log_level)
        # uvicorn re-raises Ctrl-C after its graceful shutdown; that is our normal exit.
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(config).run(sockets=[sock])
        stack.close()
        echo("stopped.")
    finally:
        stack.close()
        runtime.close()


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)

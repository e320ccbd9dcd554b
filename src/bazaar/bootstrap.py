"""The composition root: settings in, a running shop out. The only module that builds
adapters, and only when called (never at import time).

Drop-in points for other components: ``identity`` (``bazaar.auth``: Bearer tokens or RFC 9421
signatures, in :func:`build_app`), ``reader``/``invalidation`` (``bazaar.cache`` wraps the
catalogue reads in :func:`build_shop`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text
from starlette.applications import Starlette

from bazaar.auth import AuthConfig, AuthSystem, Credential, Passwords, RateLimit, Secret
from bazaar.cache import CachePolicy, Structures, memory_structures, redis_structures
from bazaar.config import Settings
from bazaar.shop.adapters import MIGRATIONS, SqlCatalogQueries, SqlUnitsOfWork, translated
from bazaar.shop.adapters.events import BufferedViews
from bazaar.shop.adapters.guarded_reads import GuardedCatalog, guarded_catalog
from bazaar.shop.services import ConflictRetry, PasswordHasher, Shop, users
from bazaar.shop.services.seed import SeedResult, seed_demo
from bazaar.storage import (
    Connectable,
    EngineOptions,
    ReadRouter,
    ReadYourWrites,
    RoutingPolicy,
    make_engine,
    migrate,
)
from bazaar.telemetry import SnapshotCollector, configure_logging
from bazaar.web import Limits

if TYPE_CHECKING:
    from bazaar.api.conventions import RatePolicy
    from bazaar.api.service import ServiceStatus
    from bazaar.flow.orchestrator import Store as FlowStore
    from bazaar.serving import TlsListeners
    from bazaar.shop.services.checkout import CheckoutStarter


@dataclass
class Runtime:
    """What :func:`build` wires: close it when done."""

    settings: Settings
    engine: Engine
    shop: Shop
    #: Reads to the standbys (``read_replica_urls``), None without any.
    router: ReadRouter | None = None

    def close(self) -> None:
        if self.router is not None:
            self.router.close()
        self.engine.dispose()


def build_engine(settings: Settings, options: EngineOptions | None = None) -> Engine:
    return make_engine(settings.effective_database_url, options)


def build_router(settings: Settings, engine: Engine,
                 options: EngineOptions | None = None) -> ReadRouter | None:
    """The standbys of ``read_replica_urls`` behind one router, or None without any."""
    if not settings.read_replica_urls:
        return None
    standbys = [(f"standby-{i}", make_engine(url, options))
                for i, url in enumerate(settings.read_replica_urls, start=1)]
    return ReadRouter(engine, standbys, RoutingPolicy(
        max_lag_bytes=settings.replica_max_lag_bytes, wait_s=settings.replica_wait_ms / 1000))


def build_shop(settings: Settings, engine: Engine, *, hasher: PasswordHasher | None = None,
               retry: ConflictRetry | None = None, reads: Connectable | None = None) -> Shop:
    """The shop's ports on ``engine``, under the configured reservation strategy.

    The overrides are for tests and the lab, which build the production wiring with a cheaper
    argon2id (``Passwords(Argon2Params(...))``) or a retry policy of their own; anything else
    about the shop is what ``bazaar up`` runs. ``reads`` (a :class:`ReadRouter`) serves the
    catalogue queries in place of ``engine``."""
    queries = SqlCatalogQueries(reads or engine)
    catalog = build_read_cache(settings, engine, queries)
    uow = SqlUnitsOfWork(engine, settings.reservation_strategy)
    return Shop(uow=uow, queries=queries,
                hasher=hasher or Passwords(),  # argon2id at OWASP's cost
                catalog_reader=catalog, retry=retry or ConflictRetry(), invalidation=catalog,
                # product views, drained into the outbox by drain_views (bazaar up)
                views=BufferedViews(uow))


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
    router = build_router(settings, engine, options)
    return Runtime(settings, engine, build_shop(settings, engine, reads=router), router)


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
        redis_url=settings.redis_url, issuer=settings.jwt_issuer, audience=settings.jwt_audience,
        access_token_ttl_s=settings.access_token_ttl_s,
        refresh_token_ttl_s=settings.refresh_token_ttl_s,
        signature_window_s=settings.signature_window_s, clock_skew_s=settings.clock_skew_s,
        rate_limit=RateLimit(settings.rate_limit_per_s, settings.rate_limit_burst),
        failed_auth_limit=RateLimit(settings.failed_auth_per_s, settings.failed_auth_burst),
        failed_login_per_account=RateLimit(settings.failed_login_per_account_per_s,
                                           settings.failed_login_per_account_burst),
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


def rate_policies(settings: Settings) -> dict[str, RatePolicy]:
    """The identity's limits as RateLimit-Policy announces them: per principal everywhere,
    failed logins on /auth/token."""
    from bazaar.api.conventions import RatePolicy

    return {"": RatePolicy.bucket("principal", settings.rate_limit_per_s,
                                  settings.rate_limit_burst),
            "/auth/token": RatePolicy.bucket("failed-logins", settings.failed_auth_per_s,
                                             settings.failed_auth_burst)}


def build_app(runtime: Runtime, services: ServiceStatus | None = None,
              grpc_port: int | None = None,
              announce: Callable[[str], None] | None = None) -> Starlette:
    """The shop's HTTP app; ``services`` (``bazaar up``'s supervisor) feeds ``/health``
    and ``GET /``. With ``grpc_port`` (0: a free one) the app's lifespan also serves the
    gRPC API on the same event loop, the same shop and the same authenticator; the bound
    port is ``app.state.grpc_port`` once started (and told to ``announce``)."""
    from bazaar.api import create_app
    from bazaar.api.auth_docs import auth_operations
    from bazaar.api.checkout import CheckoutRoutes
    from bazaar.api.graph import graphql_routes
    from bazaar.api.graph import refusal as graphql_refusal
    from bazaar.api.redis_structures import RedisStructuresRoutes
    from bazaar.api.soap import refusal as soap_refusal
    from bazaar.api.soap import soap_routes
    from bazaar.auth import exempt_paths

    shop = runtime.shop
    auth = build_auth(runtime)
    # Everything needs a Bearer token or an RFC 9421 signature except these.
    # OPTIONS only says which methods a path has (as /openapi.json does, publicly).
    public = exempt_paths(("GET", "/"), ("POST", "/users"), ("GET", "/health"),
                          ("GET", "/metrics"),
                          ("POST", "/auth/*"),
                          ("GET", "/.well-known/jwks.json"), ("GET", "/docs"),
                          ("GET", "/docs/static/*"), ("GET", "/openapi.json"),
                          # the other styles' documents and consoles (their calls need auth)
                          ("GET", "/graphiql"), ("GET", "/graphiql/static/*"),
                          ("GET", "/graphql/schema.graphql"), ("GET", "/soap"),
                          ("OPTIONS", "/*"))
    catalog = shop.catalog_reader
    structures = RedisStructuresRoutes(
        shop, build_structures(runtime.settings),
        catalog.stats if isinstance(catalog, GuardedCatalog) else None)
    # POST /orders/{id}/checkout: the saga, orchestrated or choreographed (BAZAAR_CHECKOUT)
    starter = checkout_starter(runtime.settings)
    checkout = CheckoutRoutes(shop, starter)
    lifespan = None
    if grpc_port is not None:
        lifespan = grpc_lifespan(runtime, auth, starter, grpc_port, announce)
    app = create_app(shop, identity=lambda inner: auth.middleware(inner, exempt=public),
                     health=health_check(runtime.engine), services=services,
                     access_log=runtime.settings.access_log,
                     extra=structures.operations() + checkout.operations() + auth_operations(),
                     limits=web_limits(runtime.settings),
                     cors_origins=runtime.settings.cors_origins,
                     rate_policies=rate_policies(runtime.settings),
                     # /auth/token, /auth/refresh, /auth/revoke, /.well-known/jwks.json
                     mounted=auth.routes(),
                     # the same services in the other API styles (issue 14)
                     styles=graphql_routes(shop, starter) + soap_routes(shop, starter),
                     native_errors={"/graphql": graphql_refusal, "/soap": soap_refusal},
                     lifespan=lifespan)
    if isinstance(catalog, GuardedCatalog):  # the read cache's counters, read when scraped
        app.state.metrics.registry.register(
            SnapshotCollector("bazaar_cache", "kind", catalog.stats))
    if runtime.router is not None:  # reads per node, LSN tokens on writes
        app.state.metrics.registry.register(
            SnapshotCollector("bazaar_db", "node", runtime.router.snapshot))
        app.add_middleware(ReadYourWrites, router=runtime.router)
    return app


def grpc_lifespan(runtime: Runtime, auth: AuthSystem, starter: CheckoutStarter, port: int,
                  announce: Callable[[str], None] | None = None
                  ) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """Serve ``bazaar.shop.v1.Shop`` (plus health and reflection) while the app runs."""
    from bazaar.api.rpc import GrpcServer

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server = GrpcServer(runtime.shop, auth.authenticator.authenticate, starter,
                            host=runtime.settings.host, port=port)
        app.state.grpc_port = await server.start()
        if announce is not None:
            announce(f"gRPC: {server.address}:{app.state.grpc_port} (bazaar.shop.v1.Shop; "
                     "reflection and health on)")
        try:
            yield
        finally:
            await server.stop()

    return lifespan


def checkout_dir(settings: Settings) -> Path:
    """The shop's side of the checkout saga: its outbox and dedupe databases (the saga's
    own services keep theirs wherever they run, e.g. ``DATA_DIR/saga``)."""
    path = settings.data_dir / "checkout"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _checkout_store(settings: Settings, role: str) -> FlowStore:
    from bazaar.flow.orchestrator import Store

    return Store(f"sqlite:///{(checkout_dir(settings) / f'{role}.db').resolve()}")


def checkout_starter(settings: Settings) -> CheckoutStarter:
    """How the shop asks the saga to run: the orchestrator over HTTP, or OrderPlaced
    through the shop's checkout outbox (relayed by :func:`serve_checkout`)."""
    from bazaar.shop.adapters.checkout import ChoreographedCheckout, OrchestratedCheckout

    if settings.checkout == "orchestration":
        return OrchestratedCheckout(settings.flow_url)
    return ChoreographedCheckout(_checkout_store(settings, "orders"))


def serve_checkout(settings: Settings, concurrency: int = 8,
                   announce_every_s: float = 2.0) -> None:
    """The shop's part of the checkout saga, until Ctrl-C: its inventory steps and its
    order record (reserve, release, fulfil, close), as a worker of the orchestrator or as
    the inventory and orders roles on the log, the way ``BAZAAR_CHECKOUT`` says; and every
    ``announce_every_s`` it asks the saga again for checkouts no saga has taken yet."""
    import asyncio
    import logging

    from bazaar.shop.services import checkout

    log = logging.getLogger("bazaar.checkout")

    from bazaar.flow.checkout.events import TOPIC
    from bazaar.flow.choreography import run_roles
    from bazaar.flow.orchestrator import FlowClient, Worker
    from bazaar.shop.adapters.checkout import SHOP_ROLES, ShopChoreography, inventory_handlers

    runtime = build(settings)
    stores = {role: _checkout_store(settings, role) for role in SHOP_ROLES}

    async def announce_waiting() -> None:
        """Checkouts the API committed but could not hand to the saga are asked again."""
        starter = checkout_starter(settings)
        while True:
            try:
                await asyncio.to_thread(checkout.announce_waiting, runtime.shop, starter)
            except Exception:  # the database is down: the next round tries again
                log.warning("announcing waiting checkouts failed", exc_info=True)
            await asyncio.sleep(announce_every_s)

    async def serve() -> None:
        again = asyncio.create_task(announce_waiting())
        try:
            if settings.checkout == "orchestration":
                worker = Worker(FlowClient(settings.flow_url), worker_id="shop-checkout")
                for name, handler in inventory_handlers(runtime.shop).items():
                    worker.add(name, handler, concurrency=concurrency)
                await worker.run()
            else:
                broker = settings.kafka_bootstrap or f"127.0.0.1:{settings.broker_port}"
                await run_roles(broker, ShopChoreography(runtime.shop, stores), SHOP_ROLES,
                                topic=TOPIC, group_prefix="checkout")
        finally:
            again.cancel()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve())
    finally:
        for store in stores.values():
            store.close()
        runtime.close()


def drain_views(shop: Shop, stop: threading.Event, every_s: float = 0.5) -> threading.Thread:
    """A thread moving the shop's buffered product views into its outbox every ``every_s``
    until ``stop`` (and once more then); a database error is retried next round."""
    import logging

    log = logging.getLogger("bazaar.shop.events")

    def loop() -> None:
        views = shop.views
        if not isinstance(views, BufferedViews):
            return
        while True:
            stopping = stop.wait(every_s)
            try:
                while views.drain() == 5_000:
                    pass
            except Exception as exc:  # the database is away: the views wait in memory
                log.warning("product views not recorded yet: %s", exc)
            if stopping:
                return

    thread = threading.Thread(target=loop, name="bazaar-views", daemon=True)
    thread.start()
    return thread


def serve_events(settings: Settings, batch: int = 500) -> None:
    """The shop's event relay, until Ctrl-C/TERM: the outbox in the shop's database to
    ``shop.events`` (acks=all; a row is marked sent only after the log acknowledged it, so a
    crash publishes it again: at least once). A log that is down only makes it wait."""
    import asyncio
    import logging

    from aiokafka import AIOKafkaProducer

    from bazaar.flow.choreography import Relay
    from bazaar.flow.orchestrator import Store

    log = logging.getLogger("bazaar.shop.events")
    configure_logging(settings.log_level, settings.log_format)
    broker = settings.kafka_bootstrap or f"127.0.0.1:{settings.broker_port}"
    store = Store(settings.effective_database_url)

    async def serve() -> None:
        delay = 0.2
        while True:  # the producer cannot start while the log is down: wait for it
            producer = AIOKafkaProducer(bootstrap_servers=broker, acks="all", linger_ms=5,
                                        enable_idempotence=False, request_timeout_ms=10_000)
            try:
                await producer.start()
                break
            except Exception as exc:
                log.warning("event relay: the log at %s: %s; retrying in %.1fs", broker, exc,
                            delay)
                await producer.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        log.info("event relay: shop outbox -> %s", broker)
        try:
            await Relay(store, producer, batch=batch, idle_s=0.1,
                        retention_s=settings.outbox_retention_s).run()
        finally:
            await producer.stop()

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve())
    finally:
        signal.signal(signal.SIGTERM, previous)
        store.close()


def migrate_database(runtime: Runtime) -> str:
    return migrate.upgrade(runtime.engine, MIGRATIONS)


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


def forwarded_headers(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy-header options: X-Forwarded-For/-Proto believed only from the
    configured proxies (uvicorn's own default trusts 127.0.0.1, so any local client could pick
    its address); the client is the right-most hop that is not a trusted proxy."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.trusted_proxies)}


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"the API's port {host}:{port} is not available "
                                 f"({exc.strerror}); choose another with --port (0 picks a "
                                 "free one)") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def pipeline_missing() -> str | None:
    """The first module the pipeline's services need that cannot be imported, or None (the
    pipeline is an optional extra: ``bazaar up`` without it runs the shop and says so)."""
    import importlib.util

    for module in ("pyarrow", "duckdb", "confluent_kafka"):
        if importlib.util.find_spec(module) is None:
            return module
    return None


def up(settings: Settings, echo: Callable[[str], None] = print, services: bool = True) -> None:
    """``bazaar up``: migrate, seed the demo, start the services beside the API (the
    embedded broker, the saga's orchestrator and checkout services), serve until Ctrl-C.
    The data directory is made 0700 first (secrets in it are 0600 too).

    Every port is checked before anything starts, and the data directory is locked: a
    second ``bazaar up`` on it is refused, naming the first one's pid."""
    import uvicorn

    from bazaar.processes import DirLock, port_free, private_dir
    from bazaar.supervisor import (
        Supervisor,
        running_services,
        service_specs,
        with_service_ports,
    )
    from bazaar.web import uvicorn_config

    configure_logging(settings.log_level, settings.log_format)
    if services and settings.pipeline and (missing := pipeline_missing()):
        echo(f"pipeline: off — {missing} is not installed (pip install 'bazaar[pipeline]'; "
             "./dev up installs it)")
        settings = settings.model_copy(update={"pipeline": False})
    if services:
        settings = with_service_ports(settings)
    stack = contextlib.ExitStack()
    # The master key, the demo password, the databases and the services' own dirs live
    # below it: no other uid (a function's sandbox included) may list or open any of it.
    private_dir(settings.data_dir)
    stack.enter_context(DirLock(settings.data_dir, "the shop's data directory", ".up.lock"))
    sock = stack.enter_context(_listen(settings.host, settings.port))
    tls = _listen_tls(settings, stack)
    if settings.grpc and not port_free(settings.grpc_port, settings.host):
        stack.close()
        raise OSError(errno.EADDRINUSE, f"the gRPC port {settings.host}:{settings.grpc_port} "
                      "is not available; choose another with --grpc-port (0 picks a free "
                      "one) or turn gRPC off with BAZAAR_GRPC=false")
    if services:
        Supervisor(settings, settings.data_dir / "logs", echo).check_ports(
            service_specs(settings))
    runtime = build(settings)
    try:
        revision = migrate_database(runtime)
        echo(f"database: {_redacted(settings.effective_database_url)} (schema {revision}, "
             f"reservations: {settings.reservation_strategy})")
        if settings.seed_demo:
            result = seed(runtime)
            echo(f"demo data: {result.products_added} products and {result.rooms_added} room "
                 f"types added; demo admin user id {result.demo_user_id} "
                 f"(password in {demo_password_file(settings)})")
        supervisor = None
        if services:
            supervisor = stack.enter_context(running_services(settings, echo))
            log = settings.kafka_bootstrap or f"127.0.0.1:{settings.broker_port} (embedded)"
            echo(f"log:  {log}; checkout: {settings.checkout}"
                 + (f" (orchestrator {settings.flow_url})"
                    if settings.checkout == "orchestration" else "")
                 + f"; {len(supervisor.pids())} services, logs in "
                 f"{settings.data_dir / 'logs'}")
            dashboard = supervisor.urls().get("pipeline-dashboard")
            if dashboard:
                echo(f"pipeline: shop.events → {settings.data_dir / 'pipeline'} (lake, "
                     f"warehouse); dashboard: {dashboard}")
        stop_views = threading.Event()  # on the way out: the last views, then the services
        views = drain_views(runtime.shop, stop_views)
        stack.callback(views.join, 5.0)
        stack.callback(stop_views.set)
        app = build_app(runtime, supervisor,
                        grpc_port=settings.grpc_port if settings.grpc else None, announce=echo)
        port = sock.getsockname()[1]
        shown = f"[{settings.host}]" if ":" in settings.host else settings.host
        base = f"http://{shown}:{port}"
        echo(f"API:  {base}/\ndocs: {base}/docs   (OpenAPI: {base}/openapi.json)")
        echo(f"GraphQL: {base}/graphql (GraphiQL: {base}/graphiql)   SOAP: {base}/soap "
             f"(WSDL: {base}/soap?wsdl)")
        echo(f"auth: POST {base}/auth/token (username, password) for a Bearer token, or sign "
             "requests as an app (`bazaar auth apps create`). Ctrl-C stops.")
        if tls is not None:
            from bazaar import serving

            files = serving.ensure_certificates(settings.data_dir / "tls")
            echo(serving.trust_hint(files, settings.host, tls.port))
        config = uvicorn_config(app, web_limits(settings), loop="uvloop",
                                log_level=settings.log_level, log_config=None,  # ours
                                # the lifespan serves gRPC beside the HTTP API
                                lifespan="on" if settings.grpc else "off",
                                **forwarded_headers(settings))
        # uvicorn re-raises Ctrl-C (and TERM) after its graceful shutdown; both are our
        # normal exit: TERM is turned into the same KeyboardInterrupt, so the services are
        # stopped in order and the exit status is 0.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                if tls is None:
                    uvicorn.Server(config).run(sockets=[sock])
                else:  # h2 and h3 beside h1, the same app in the same loop
                    serving.run_all(uvicorn.Server(config), [sock], app, serving.hypercorn_config(
                        tls, files, web_limits(settings), settings.log_level))
        finally:
            signal.signal(signal.SIGTERM, previous)
        stack.close()
        echo("stopped.")
    finally:
        stack.close()
        runtime.close()


def _listen_tls(settings: Settings, stack: contextlib.ExitStack) -> TlsListeners | None:
    """The TLS (TCP) and QUIC (UDP) sockets of ``--tls``, bound now so a taken port fails
    before anything starts; None without ``--tls``."""
    if not settings.tls:
        return None
    try:
        from bazaar import serving
    except ImportError as exc:  # the optional extra is missing
        stack.close()
        raise OSError(errno.ENOPKG, f"--tls needs hypercorn and aioquic ({exc.name} is "
                                    "missing): pip install 'bazaar[http3]'") from exc
    try:
        return stack.enter_context(serving.listen_tls(settings.host, settings.tls_port))
    except OSError:
        stack.close()
        raise


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)

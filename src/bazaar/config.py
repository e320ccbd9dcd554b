"""One typed settings object, read once at the edge, embedded defaults.

Where a value comes from, first match wins: a command-line option, a ``BAZAAR_*``
environment variable, a ``BAZAAR_*`` line in ``./.env``, a key in ``./bazaar.toml``
(``port = 8000``), the default. ``bazaar config show`` says which, for every setting.

No other module reads ``os.environ``: the CLI builds a :class:`Settings`, and
``bootstrap`` turns it into adapters. Components take plain arguments, never this object.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_FILE = ".env"
TOML_FILE = "bazaar.toml"

ReservationStrategy = Literal["optimistic", "pessimistic", "atomic"]
CheckoutMode = Literal["orchestration", "choreography"]


class Settings(BaseSettings):
    """Everything Bazaar can be told, with the embedded defaults of ``bazaar up``."""

    model_config = SettingsConfigDict(env_prefix="BAZAAR_", extra="forbid", frozen=True,
                                      env_file=ENV_FILE, toml_file=TOML_FILE)

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, *file_sources(settings_cls, env_settings)

    # --- where state lives -------------------------------------------------------------
    data_dir: Path = Field(default=Path(".bazaar"), description="Root of all local state.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file under data_dir.",
    )

    read_replica_urls: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="PostgreSQL standbys (SQLAlchemy URLs, comma-separated) that serve the "
                    "catalogue reads; writes hand back an LSN token for read-your-writes.")
    replica_max_lag_bytes: int = Field(
        default=16 * 1024 * 1024, ge=0,
        description="A standby further behind the primary than this serves no reads.")
    replica_wait_ms: float = Field(
        default=50.0, ge=0, le=10_000,
        description="How long a read with a token waits for a standby before the primary.")

    # --- serving -------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_origin: str | None = Field(
        default=None,
        description="Origin clients sign against (scheme://host[:port]); default from host/port.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="Log lines as JSON objects, or for reading at a console; "
                                    "auto: console on a terminal, JSON otherwise.")
    access_log: bool = Field(default=False, description="One log line per HTTP request.")
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For is believed; "
                    "the client is the right-most hop not in this list. Default: none.",
    )
    # bazaar.web: what the API accepts before it stops reading (413 / 408 / 503)
    max_body_bytes: int = Field(default=64 * 1024, ge=1, description="Largest request body.")
    body_timeout_s: float = Field(default=10.0, gt=0,
                                  description="Longest wait for the next piece of a body.")
    header_timeout_s: float = Field(default=10.0, gt=0,
                                    description="Longest a request head may take to arrive.")
    max_connections: int = Field(default=1000, ge=1,
                                 description="Connection cap of the API (beyond it: 503).")
    grpc: bool = Field(default=True, description="Serve the gRPC API beside the HTTP one.")
    grpc_port: int = Field(default=50051, ge=0, le=65535,
                           description="The gRPC API's port (0: a free one, logged).")
    tls: bool = Field(default=False, description="Also serve HTTP/2 over TLS and HTTP/3 over "
                      "QUIC on tls_port, with a throwaway CA in the data dir (bazaar.serving).")
    tls_port: int = Field(default=8443, ge=0, le=65535,
                          description="The TLS (TCP, h2) and QUIC (UDP, h3) port (0: a free one).")
    cors_origins: tuple[str, ...] = Field(
        default=(), description="Origins browsers may call the API from (CORS); '*' for any.")

    # --- shop behaviour ------------------------------------------------------------------
    reservation_strategy: ReservationStrategy = "atomic"
    seed_demo: bool = True
    checkout: CheckoutMode = "orchestration"

    # --- cache and guards ----------------------------------------------------------------
    cache_url: str = Field(default="memory://", description="memory://, redis://…, memcached://…")
    # bazaar.cache: product/room read cache and its cache-miss-attack defences
    cache_ttl_s: float = Field(default=300.0, gt=0, description="TTL of cached reads (±10%).")
    cache_nulls: bool = Field(default=True, description="Cache 'not found' answers briefly.")
    cache_null_ttl_s: float = Field(default=60.0, gt=0, description="TTL of a cached 'not found'.")
    cache_bloom_guard: bool = Field(
        default=True, description="Bloom guard of existing ids: unknown ids skip cache and DB.")
    redis_url: str | None = Field(default=None, description="Shared state: nonces, rate limits.")

    # --- log -----------------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None,
        description="host:port of a Kafka-compatible cluster; default: the embedded broker.",
    )
    broker_port: int = Field(default=9092, ge=0, le=65535)
    broker_metrics_port: int = Field(
        default=0, ge=0, le=65535,
        description="Prometheus metrics of the embedded broker (0: a free port under up).")

    # --- pipeline ------------------------------------------------------------------------
    pipeline: bool = Field(default=True, description="`bazaar up` also runs the pipeline: the "
                                                     "ingester and the dashboard.")
    dashboard_port: int = Field(default=8400, ge=0, le=65535,
                                description="The pipeline dashboard's port under `bazaar up`.")
    outbox_retention_s: float = Field(
        default=7 * 86_400.0, ge=0,
        description="The shop's event relay deletes outbox rows sent longer ago than this.")

    # --- broker --------------------------------------------------------------------------
    broker_host: str = Field(default="127.0.0.1", description="Interface the broker binds.")
    broker_flush: Literal["batch", "interval", "os"] = Field(
        default="os", description="fsync per produce (batch), every second, or leave to the OS.")
    broker_segment_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    broker_auto_create_topics: bool = True
    broker_default_partitions: int = Field(default=1, ge=1, le=10_000)
    broker_zero_copy: bool = Field(default=True, description="sendfile for Fetch responses.")

    # --- flow (orchestrator) -------------------------------------------------------------
    flow_url: str = Field(default="http://127.0.0.1:8300",
                          description="Where `bazaar flow` commands and workers reach the "
                                      "orchestrator.")
    flow_port: int = Field(default=8300, ge=0, le=65535)
    flow_database_url: str | None = Field(
        default=None, description="The orchestrator's store; default: data_dir/flow.db.")

    # --- functions -----------------------------------------------------------------------
    functions_url: str | None = Field(
        default=None, description="Where `bazaar functions` commands reach the frontend; "
                                  "default: the platform serving data_dir, else functions_port.")
    functions_port: int = Field(default=8090, ge=0, le=65535)
    functions_workers: int = Field(default=1, ge=0, le=64,
                                   description="Local worker host processes `serve` keeps up.")
    functions_worker_memory_mb: int = Field(default=2048, ge=64)
    functions_worker_slots: int = Field(default=64, ge=1)
    functions_idle_timeout_s: float = Field(default=300.0, gt=0,
                                            description="Reap a warm sandbox idle this long.")
    functions_heartbeat_s: float = Field(default=1.0, gt=0)
    functions_retry_backoff_s: float = Field(default=1.0, ge=0,
                                             description="First async retry delay (doubles).")
    functions_max_event_age_s: float = Field(default=21600.0, gt=0)

    # --- auth ----------------------------------------------------------------------------
    master_key: SecretStr | None = Field(
        default=None,
        description="Base64 AES-256 key for app keys at rest; default: a file under data_dir.",
    )
    access_token_ttl_s: float = Field(default=900.0, gt=0, description="Access token lifetime.")
    refresh_token_ttl_s: float = Field(default=14 * 86400.0, gt=0,
                                       description="Refresh token lifetime.")
    signature_window_s: float = Field(default=300.0, gt=0,
                                      description="How old a signed request's `created` may be.")
    clock_skew_s: float = Field(default=5.0, ge=0,
                                description="Future `created`/`iat` tolerated (clock drift).")
    rate_limit_per_s: float = Field(default=100.0, gt=0, description="Per principal, sustained.")
    rate_limit_burst: float = Field(default=200.0, ge=1, description="Per principal, burst.")
    failed_auth_per_s: float = Field(default=0.5, gt=0,
                                     description="Failed authentications per client, sustained.")
    failed_auth_burst: float = Field(default=20.0, ge=1,
                                     description="Failed authentications per client, burst.")
    jwt_issuer: str = Field(default="bazaar", min_length=1, description="`iss` of access tokens.")
    jwt_audience: str = Field(default="bazaar-api", min_length=1,
                              description="`aud` of access tokens, and the one accepted.")
    failed_login_per_account_per_s: float = Field(
        default=0.1, gt=0, description="Failed logins per account (any address), sustained.")
    failed_login_per_account_burst: float = Field(
        default=10.0, ge=1, description="Failed logins per account (any address), burst.")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, v: object) -> object:
        if isinstance(v, str):  # "10.0.0.1, 10.0.0.0/8", or JSON as settings_env writes it
            items: object = (json.loads(v) if v.lstrip().startswith("[")
                             else [p.strip() for p in v.split(",")])
        else:
            items = v
        if not isinstance(items, (list, tuple)):
            return v
        out = []
        for item in items:
            if not item:
                continue
            try:
                ipaddress.ip_network(str(item), strict=False)
            except ValueError as exc:
                raise ValueError(f"trusted proxy {item!r} is not an IP address or CIDR") from exc
            out.append(str(item))
        return tuple(out)

    @field_validator("read_replica_urls", mode="before")
    @classmethod
    def _replicas(cls, v: object) -> object:
        if isinstance(v, str):
            items = (json.loads(v) if v.lstrip().startswith("[")
                     else [p.strip() for p in v.split(",") if p.strip()])
            return tuple(str(i) for i in items)
        return v

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

    @property
    def effective_database_url(self) -> str:
        """The configured database, or the embedded SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'bazaar.db').resolve()}"

    @property
    def effective_public_origin(self) -> str:
        if self.public_origin:
            return self.public_origin.rstrip("/")
        return f"http://{self.host}:{self.port}"


class _BazaarDotEnv(DotEnvSettingsSource):
    """``.env``, keeping only ``BAZAAR_*`` lines: a project's ``.env`` holds other programs'
    variables too (a misspelt ``BAZAAR_*`` one is still an error)."""

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        return {k: v for k, v in data.items()
                if k in self.settings_cls.model_fields or k.startswith("bazaar_")
                or f"bazaar_{k}" in self.env_vars}


def file_sources(settings_cls: type[BaseSettings], env: PydanticBaseSettingsSource | None = None
                 ) -> tuple[PydanticBaseSettingsSource, ...]:
    """The environment, ``.env`` and ``bazaar.toml`` sources, in priority order."""
    return (env or EnvSettingsSource(settings_cls), _BazaarDotEnv(settings_cls),
            TomlConfigSettingsSource(settings_cls))


def origins() -> dict[str, str]:
    """For each setting given somewhere: where (``BAZAAR_X``, ``.env``, ``bazaar.toml``)."""
    found: dict[str, str] = {}
    names = ("environment", str(Path(ENV_FILE).resolve()), str(Path(TOML_FILE).resolve()))
    for source, where in zip(file_sources(Settings), names, strict=True):
        for key in source():
            if key in Settings.model_fields and key not in found:
                found[key] = (f"BAZAAR_{key.upper()} (environment)" if where == "environment"
                              else where)
    return found


def explain(error: ValidationError, options: dict[str, str] | None = None) -> str:
    """A user's account of bad settings: one line per value — the setting, where it can be
    given (``options``: setting → command-line option, and its ``BAZAAR_*`` variable), what
    is wrong, and the value received. No pydantic internals."""
    lines = []
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"]) or "settings"
        if problem.get("type") == "extra_forbidden":  # a name no setting has
            where_given = (name.upper() if name.startswith("bazaar_")
                           else f"{name} (in {TOML_FILE})")
            lines.append(f"{where_given}: not a setting Bazaar knows")
            continue
        where = [f"BAZAAR_{name.upper()}"]
        if options and name in options:
            where.insert(0, options[name])
        message = str(problem["msg"])
        given = problem.get("input")
        lines.append(f"{name} ({' or '.join(where)}): {message}"
                     + ("" if isinstance(given, dict) else f"; got {given!r}"))
    return "invalid settings:\n  " + "\n  ".join(lines)

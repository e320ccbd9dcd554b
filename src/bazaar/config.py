"""One typed settings object, read once at the edge (env ``BAZAAR_*``), embedded defaults.

No other module reads ``os.environ``: the CLI builds a :class:`Settings`, and
``bootstrap`` turns it into adapters. Components take plain arguments, never this object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ReservationStrategy = Literal["optimistic", "pessimistic", "atomic"]
CheckoutMode = Literal["orchestration", "choreography"]


class Settings(BaseSettings):
    """Everything Bazaar can be told, with the embedded defaults of ``bazaar up``."""

    model_config = SettingsConfigDict(env_prefix="BAZAAR_", extra="forbid", frozen=True)

    # --- where state lives -------------------------------------------------------------
    data_dir: Path = Field(default=Path(".bazaar"), description="Root of all local state.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file under data_dir.",
    )
    read_replica_urls: tuple[str, ...] = Field(default=(), description="Read-only replicas.")

    # --- serving -------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    public_origin: str | None = Field(
        default=None,
        description="Origin clients sign against (scheme://host[:port]); default from host/port.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # --- shop behaviour ------------------------------------------------------------------
    reservation_strategy: ReservationStrategy = "atomic"
    seed_demo: bool = True
    checkout: CheckoutMode = "orchestration"

    # --- cache and guards ----------------------------------------------------------------
    cache_url: str = Field(default="memory://", description="memory://, redis://…, memcached://…")
    redis_url: str | None = Field(default=None, description="Shared state: nonces, rate limits.")

    # --- log -----------------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None,
        description="host:port of a Kafka-compatible cluster; default: the embedded broker.",
    )
    broker_port: int = Field(default=9092, ge=0, le=65535)

    # --- auth ----------------------------------------------------------------------------
    master_key: SecretStr | None = Field(
        default=None,
        description="Base64 AES-256 key for app keys at rest; default: a file under data_dir.",
    )

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

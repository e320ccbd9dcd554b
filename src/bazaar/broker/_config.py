"""The broker's one typed configuration object, with units in the names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bazaar.broker._errors import ConfigError

FlushPolicy = Literal["batch", "interval", "os"]


@dataclass(frozen=True)
class LogConfig:
    """How each partition's log is laid out on disk and when it is flushed and trimmed.

    ``flush``: ``"batch"`` fsyncs every produce request before it is acknowledged,
    ``"interval"`` every ``flush_interval_ms``, ``"os"`` leaves it to the page cache.
    Retention limits of ``None`` keep everything.

    ``cleanup_policy`` (Kafka's ``cleanup.policy``): ``"delete"`` drops old segments by the
    retention limits, ``"compact"`` keeps the latest record per key instead (the cleaner,
    ``log/cleaner.py``), ``"compact,delete"`` does both. A tombstone (null value) stays
    ``delete_retention_ms`` after it was first compacted; a log is cleaned when the share of
    its cleanable bytes not yet cleaned exceeds ``min_cleanable_dirty_ratio``.
    """

    segment_bytes: int = 256 * 1024 * 1024
    segment_ms: int | None = 7 * 24 * 3600 * 1000
    index_interval_bytes: int = 4096
    retention_bytes: int | None = None
    retention_ms: int | None = 7 * 24 * 3600 * 1000
    flush: FlushPolicy = "os"
    flush_interval_ms: int = 1000
    cleanup_policy: str = "delete"
    delete_retention_ms: int = 24 * 3600 * 1000
    min_cleanable_dirty_ratio: float = 0.5

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy.split(",")

    @property
    def deletes(self) -> bool:
        """Whether retention by size and age applies (``delete`` in the policy)."""
        return "delete" in self.cleanup_policy.split(",")

    def __post_init__(self) -> None:
        policy = self.cleanup_policy.split(",")
        if not policy or set(policy) - {"delete", "compact"} or len(set(policy)) != len(policy):
            raise ConfigError(f"cleanup_policy must be delete, compact or compact,delete, "
                              f"got {self.cleanup_policy!r}")
        if self.delete_retention_ms < 0:
            raise ConfigError("delete_retention_ms must be >= 0")
        if not 0.0 <= self.min_cleanable_dirty_ratio <= 1.0:
            raise ConfigError("min_cleanable_dirty_ratio must be between 0 and 1")
        if self.segment_bytes < 1024:
            raise ConfigError(f"segment_bytes must be >= 1024, got {self.segment_bytes}")
        if self.index_interval_bytes < 0:
            raise ConfigError("index_interval_bytes must be >= 0")
        if self.flush not in ("batch", "interval", "os"):
            raise ConfigError(f"flush must be batch, interval or os, got {self.flush!r}")
        if self.flush_interval_ms < 1:
            raise ConfigError("flush_interval_ms must be >= 1")
        for name in ("segment_ms", "retention_bytes", "retention_ms"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1 or None, got {value}")


@dataclass(frozen=True)
class BrokerConfig:
    """Everything one broker process needs: where it keeps data, where it listens, limits.

    ``advertised_host`` is what Metadata tells clients to connect to (default: ``host``).
    ``zero_copy`` serves Fetch with ``sendfile``; off, it reads record bytes into Python and
    writes them (the copying path, kept for the zero-copy experiment).

    Limits, all checked before a byte of a request body is buffered: ``max_request_bytes``
    for a Produce frame (Kafka's ``message.max.bytes`` plays this part), and
    ``max_control_request_bytes`` for every other API; ``queued_max_request_bytes`` is the
    memory all connections' requests may hold at once (a frame waits, unread, for its share);
    ``max_connections`` open at once; a request not complete ``request_timeout_ms`` after its
    first byte, or a connection silent for ``connections_max_idle_ms``, or a response the
    client has not taken within ``write_timeout_ms`` (it stopped reading), is closed. A Fetch
    answers at most ``fetch_max_bytes`` of records (Kafka's broker ``fetch.max.bytes``; the
    first batch is sent whole even if larger) and long-polls at most ``request_timeout_ms``.

    Security (one listener): ``tls_cert``/``tls_key`` (PEM files) make it TLS;
    ``sasl_mechanisms`` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) make every connection
    authenticate before anything but ApiVersions/SaslHandshake/SaslAuthenticate, and turn
    the ACL authorizer on (``super_users`` bypass it). A failed authentication is answered
    ``auth_failure_delay_ms`` late, one at a time per client host (a rate limit on password
    guessing), then the connection is closed. Without SASL, every client is allowed
    everything (the loopback plaintext default).
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 9092
    advertised_host: str | None = None
    node_id: int = 0
    auto_create_topics: bool = True
    default_partitions: int = 1
    max_partitions: int = 10_000
    log: LogConfig = field(default_factory=LogConfig)
    zero_copy: bool = True
    max_request_bytes: int = 16 * 1024 * 1024
    max_control_request_bytes: int = 1024 * 1024
    queued_max_request_bytes: int = 64 * 1024 * 1024
    max_connections: int = 1000
    request_timeout_ms: int = 30_000
    fetch_max_bytes: int = 55 * 1024 * 1024
    group_initial_rebalance_delay_ms: int = 300
    group_min_session_timeout_ms: int = 1000
    group_max_session_timeout_ms: int = 300_000
    offsets_flush: bool = True
    retention_check_interval_ms: int = 30_000
    cleaner_interval_ms: int = 15_000
    cleaner_max_keys: int = 1_000_000
    connections_max_idle_ms: int = 600_000
    write_timeout_ms: int = 30_000
    metrics_port: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    sasl_mechanisms: tuple[str, ...] = ()
    super_users: tuple[str, ...] = ()
    auth_failure_delay_ms: int = 100

    def __post_init__(self) -> None:
        self._check_security()
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0..65535, got {self.port}")
        if not 1 <= self.default_partitions <= self.max_partitions:
            raise ConfigError("default_partitions must be between 1 and max_partitions")
        if self.max_request_bytes < 1024:
            raise ConfigError("max_request_bytes must be >= 1024")
        if self.max_control_request_bytes < 1024:
            raise ConfigError("max_control_request_bytes must be >= 1024")
        if self.queued_max_request_bytes < max(self.max_request_bytes,
                                               self.max_control_request_bytes):
            raise ConfigError("queued_max_request_bytes must hold the largest request "
                              "(>= max_request_bytes)")
        if self.max_connections < 1:
            raise ConfigError("max_connections must be >= 1")
        if self.request_timeout_ms < 1:
            raise ConfigError("request_timeout_ms must be >= 1")
        if self.fetch_max_bytes < 1024:
            raise ConfigError("fetch_max_bytes must be >= 1024")
        if self.group_initial_rebalance_delay_ms < 0:
            raise ConfigError("group_initial_rebalance_delay_ms must be >= 0")
        if self.connections_max_idle_ms < 1:
            raise ConfigError("connections_max_idle_ms must be >= 1")
        if self.write_timeout_ms < 1:
            raise ConfigError("write_timeout_ms must be >= 1")
        if self.cleaner_interval_ms < 1:
            raise ConfigError("cleaner_interval_ms must be >= 1")
        if self.cleaner_max_keys < 1:
            raise ConfigError("cleaner_max_keys must be >= 1")
        if self.retention_check_interval_ms < 1:
            raise ConfigError("retention_check_interval_ms must be >= 1")
        if self.group_min_session_timeout_ms > self.group_max_session_timeout_ms:
            raise ConfigError("group_min_session_timeout_ms exceeds the maximum")

    def _check_security(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("TLS needs both tls_cert and tls_key")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"TLS file {path} does not exist")
        known = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
        for mechanism in self.sasl_mechanisms:
            if mechanism not in known:
                raise ConfigError(f"SASL mechanism must be one of {', '.join(known)}, "
                                  f"got {mechanism!r}")
        for user in self.super_users:
            if not user.startswith("User:") or len(user) < 6:
                raise ConfigError(f"super users are User:<name>, got {user!r}")
        if not 0 <= self.auth_failure_delay_ms <= 60_000:
            raise ConfigError("auth_failure_delay_ms must be 0..60000")

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def security_protocol(self) -> str:
        """The listener's protocol, as clients name it in ``security.protocol``."""
        if self.sasl_mechanisms:
            return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"
        return "SSL" if self.tls else "PLAINTEXT"

    @property
    def advertised(self) -> str:
        """The host clients are told to connect to."""
        if self.advertised_host:
            return self.advertised_host
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host

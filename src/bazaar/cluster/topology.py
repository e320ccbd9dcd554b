"""The explainer's steps as topologies, and what each one starts.

``single`` is ``bazaar up`` (SQLite, one process); ``split`` moves the database to its own
PostgreSQL server; ``cluster`` puts N app servers behind nginx; ``replicas`` adds streaming
standbys that serve the reads; ``shards`` partitions the users' data over K PostgreSQL
servers (many logical shards on each) beside an inventory server. ``cached`` and ``services``
are the later steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.cluster.errors import ClusterError, NotBuilt

BUILT = ("single", "split", "cluster", "replicas", "shards")
PLANNED = ("cached", "services")
TOPOLOGIES = BUILT + PLANNED
#: Bounds that keep one machine usable (each app server is a Python process, each standby a
#: PostgreSQL server).
MAX_APP_SERVERS = 16
MAX_REPLICAS = 8
#: Shard servers (each a PostgreSQL server) and the logical shards spread over them: many
#: more logical shards than servers, so growing is moving logical shards, never re-hashing.
MAX_SHARD_SERVERS = 8
LOGICAL_SHARDS = 64
#: The explainer's three options: saved on all nodes, on the primary and one standby, on the
#: primary alone (``synchronous_standby_names`` FIRST n / ANY 1 / '').
REPLICATION_MODES = ("all", "one", "async")


@dataclass(frozen=True)
class ClusterSpec:
    """What ``cluster up`` was asked for, checked."""

    topology: str
    app_servers: int = 1
    replicas: int = 0
    #: recovery_min_apply_delay of the last standby (ms), to show lagging standbys are safe.
    standby_delay_ms: int = 0
    #: nginx worker processes.
    lb_workers: int = 1
    #: all, one or async (see :data:`REPLICATION_MODES`).
    replication: str = "async"
    #: Shard servers (``shards``), and the logical shards over them.
    shards: int = 0
    logical_shards: int = 0

    @property
    def has_postgres(self) -> bool:
        return self.topology not in ("single", "shards")

    @property
    def has_balancer(self) -> bool:
        return self.topology in ("cluster", "replicas")


def spec_for(topology: str, app_servers: int | None = None, replicas: int | None = None,
             shards: int | None = None, standby_delay_ms: int = 0,
             lb_workers: int = 1, replication: str = "async") -> ClusterSpec:
    """The spec for ``topology`` with its defaults; :class:`ClusterError` for bad counts."""
    if topology not in TOPOLOGIES:
        raise ClusterError(f"unknown topology {topology!r}: one of {', '.join(TOPOLOGIES)}")
    if topology in PLANNED:
        raise NotBuilt(f"topology {topology!r} is not built yet (built: {', '.join(BUILT)}); "
                       "see docs/scaling.md")
    if shards is not None and topology != "shards":
        raise ClusterError("--shards belongs to the 'shards' topology")
    servers = (2 if shards is None else shards) if topology == "shards" else 0
    if topology == "shards" and not 1 <= servers <= MAX_SHARD_SERVERS:
        raise ClusterError(f"--shards must be 1..{MAX_SHARD_SERVERS}, got {servers}")
    if topology == "shards" and app_servers not in (None, 0):
        raise ClusterError("the 'shards' topology runs no app server yet: the shop's request "
                           "path is not routed over the shards (see docs/scaling.md)")
    default_apps = 2 if topology in ("cluster", "replicas") else 1
    apps = default_apps if app_servers is None else app_servers
    if topology == "shards":
        apps = 0
    elif topology in ("single", "split") and apps != 1:
        raise ClusterError(f"topology {topology!r} has one app server; use 'cluster' for more")
    if topology != "shards" and not 1 <= apps <= MAX_APP_SERVERS:
        raise ClusterError(f"--app-servers must be 1..{MAX_APP_SERVERS}, got {apps}")
    default_replicas = 2 if topology == "replicas" else 0
    standbys = default_replicas if replicas is None else replicas
    if topology != "replicas" and standbys:
        raise ClusterError("--replicas belongs to the 'replicas' topology")
    if topology == "replicas" and not 1 <= standbys <= MAX_REPLICAS:
        raise ClusterError(f"--replicas must be 1..{MAX_REPLICAS}, got {standbys}")
    if not 0 <= standby_delay_ms <= 60_000:
        raise ClusterError(f"--standby-delay-ms must be 0..60000, got {standby_delay_ms}")
    if standby_delay_ms and topology != "replicas":
        raise ClusterError("--standby-delay-ms belongs to the 'replicas' topology")
    if not 1 <= lb_workers <= 16:
        raise ClusterError(f"--lb-workers must be 1..16, got {lb_workers}")
    if replication not in REPLICATION_MODES:
        raise ClusterError(f"--replication must be one of {', '.join(REPLICATION_MODES)}, "
                           f"got {replication!r}")
    if replication != "async" and topology != "replicas":
        raise ClusterError("--replication belongs to the 'replicas' topology")
    return ClusterSpec(topology, apps, standbys, standby_delay_ms, lb_workers, replication,
                       servers, LOGICAL_SHARDS if servers else 0)

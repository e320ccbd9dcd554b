"""``cluster up``: start a topology's nodes in order (databases, schema and demo data once,
app servers side by side, the balancer last); the pieces ``down`` (``operate.py``, through a
plan) stops them with — in reverse, leaving no process behind."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from bazaar.cluster import nginx, postgres, sharded
from bazaar.cluster.errors import ClusterRunning, NoCluster, NodeFailed
from bazaar.cluster.nodes import app_node, kill_node, start_app, start_redis, stop_pid
from bazaar.cluster.state import ClusterState, Node, alive, processes_under
from bazaar.cluster.topology import ClusterSpec
from bazaar.config import Settings
from bazaar.processes import DirLock, free_port

Echo = Callable[[str], None]


def cluster_dir(settings: Settings) -> Path:
    return (settings.data_dir / "cluster").resolve()


def lock(directory: Path) -> DirLock:
    return DirLock(directory, "the cluster directory", ".cluster.lock")


def _master_key(directory: Path, settings: Settings) -> str:
    """One master key for every app server (they share the app keys and signing keys)."""
    if settings.master_key is not None:
        return settings.master_key.get_secret_value()
    path = directory / "master.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return path.read_text().strip()


def _app_env(settings: Settings, database_url: str | None, key: str, entry: str,
             replicas: list[str], redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
    env.update(BAZAAR_MASTER_KEY=key, BAZAAR_LOG_LEVEL=settings.log_level,
               BAZAAR_LOG_FORMAT="json", BAZAAR_RESERVATION_STRATEGY=settings.reservation_strategy,
               BAZAAR_PUBLIC_ORIGIN=entry, BAZAAR_BROKER_PORT="0", BAZAAR_FLOW_PORT="0",
               BAZAAR_GRPC_PORT="0",
               # a load test is one principal at thousands of requests a second
               BAZAAR_RATE_LIMIT_PER_S=str(max(settings.rate_limit_per_s, 1e6)),
               BAZAAR_RATE_LIMIT_BURST=str(max(settings.rate_limit_burst, 1e6)))
    if database_url is not None:
        env.update(BAZAAR_DATABASE_URL=database_url, BAZAAR_SEED_DEMO="false",
                   BAZAAR_TRUSTED_PROXIES="127.0.0.1")
    if replicas:
        env["BAZAAR_READ_REPLICA_URLS"] = ",".join(replicas)
    if redis_url is not None:
        # two app servers need one cache (an invalidation on one must reach the other) and
        # one set of revocations, nonces and rate limits
        env.update(BAZAAR_CACHE_URL=f"{redis_url}/1", BAZAAR_REDIS_URL=f"{redis_url}/0")
    return env


def _prepare_database(settings: Settings, url: str, key: str, directory: Path) -> None:
    """Schema, auth tables and demo data, once, before any app server starts (N servers
    migrating at once would race)."""
    from pydantic import SecretStr

    from bazaar import bootstrap

    local = settings.model_copy(update={"database_url": url, "data_dir": directory,
                                        "master_key": SecretStr(key)})
    runtime = bootstrap.build(local)
    try:
        bootstrap.migrate_database(runtime)
        bootstrap.build_auth(runtime)
        bootstrap.seed(runtime)
    except Exception as exc:
        raise NodeFailed(f"preparing the database {url} failed: {exc}") from exc
    finally:
        runtime.close()


def up(settings: Settings, spec: ClusterSpec, echo: Echo = print) -> ClusterState:
    """Start ``spec``'s nodes; on any failure, stop what started and raise."""
    directory = cluster_dir(settings)
    with lock(directory):
        old = ClusterState.load(directory)
        if old is not None and any(alive(n) for n in old.nodes):
            raise ClusterRunning(f"a {old.spec.topology!r} cluster runs under {directory} "
                                 f"(entry {old.entry}); `bazaar cluster down` first")
        if old is not None:
            remove_data(directory, old)
        logs = directory / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        state = ClusterState(spec, id=secrets.token_hex(8))
        try:
            _start_nodes(settings, spec, state, directory, logs, echo)
        except BaseException:
            echo("start failed: stopping the nodes that started")
            _stop_all(state, echo)
            state.save(directory)
            raise
        state.save(directory)
        return state


def _start_nodes(settings: Settings, spec: ClusterSpec, state: ClusterState, directory: Path,
                 logs: Path, echo: Echo) -> None:
    def added(node: Node) -> None:
        state.nodes.append(node)
        state.save(directory)
        echo(f"  {node.role:8} {node.name:12} pid {node.pid:<7} {node.address}")

    if spec.topology == "shards":
        _start_shards(spec, state, directory, logs, added, echo)
        return
    key = _master_key(directory, settings)
    lb_port = free_port() if spec.has_balancer else 0
    app_ports = [free_port() for _ in range(spec.app_servers)]
    entry = f"http://127.0.0.1:{lb_port or app_ports[0]}"
    state.entry = entry
    database_url: str | None = None
    replica_urls: list[str] = []
    if spec.has_postgres:
        data = postgres.node_dir(directory / "pg-primary")
        echo(f"initdb {data}")
        postgres.init_primary(data)
        primary = postgres.start("pg-primary", "primary", data, free_port(),
                                 logs / "pg-primary.log")
        added(primary)
        postgres.create_database(primary.port)
        database_url = primary.url
        for i in range(1, spec.replicas + 1):
            name = f"pg-standby-{i}"
            sdata = postgres.node_dir(directory / name)
            echo(f"pg_basebackup {name} (slot {name.replace('-', '_')})")
            postgres.clone_standby(sdata, primary.port, name.replace("-", "_"))
            delay = spec.standby_delay_ms if i == spec.replicas else 0
            extra = {"cluster_name": f"'{postgres.standby_name(i)}'"}
            if delay:
                extra["recovery_min_apply_delay"] = f"'{delay}ms'"
            node = postgres.start(name, "standby", sdata, free_port(), logs / f"{name}.log",
                                  extra)
            added(node)
            replica_urls.append(node.url)
        if spec.replicas:
            echo(f"replication {spec.replication}: synchronous_standby_names = "
                 f"'{postgres.sync_standby_names(spec.replication, spec.replicas)}'")
            postgres.set_replication(primary, spec.replication, spec.replicas)
        echo("schema, auth tables and demo data")
        _prepare_database(settings, database_url, key, directory)
    redis_url = None
    if spec.has_balancer:
        redis = start_redis("redis", free_port(), directory / "redis", logs / "redis.log")
        added(redis)
        redis_url = redis.url
    env = _app_env(settings, database_url, key, entry, replica_urls, redis_url)
    children = []
    for i, port in enumerate(app_ports, start=1):
        app_data = directory / f"app-{i}"
        children.append((start_app(f"app-{i}", port, app_data, logs / f"app-{i}.log", env,
                                   services=spec.topology == "single"), port, app_data))
    try:
        for child, port, app_data in children:
            added(app_node(child, "app", port, app_data))
    except BaseException:
        for child, _, _ in children:
            if child.alive:
                child.kill()
        raise
    if spec.has_balancer:
        added(nginx.start(nginx.Balancer(lb_port, tuple(("127.0.0.1", p) for p in app_ports),
                                         directory / "lb", logs, workers=spec.lb_workers)))


def _start_shards(spec: ClusterSpec, state: ClusterState, directory: Path, logs: Path,
                  added: Callable[[Node], None], echo: Echo) -> None:
    """The inventory server, then the shard servers, then the schemas (no app server yet:
    the shop's request path is not routed over the shards)."""
    inventory = sharded.start_server(sharded.INVENTORY, "inventory", directory, logs, echo)
    added(inventory)
    shard_nodes = []
    for i in range(1, spec.shards + 1):
        node = sharded.start_server(sharded.shard_node_name(i), "shard", directory, logs, echo)
        added(node)
        shard_nodes.append(node)
    try:
        sharded.prepare(inventory, shard_nodes, spec.logical_shards, echo)
    except Exception as exc:
        raise NodeFailed(f"preparing the shards failed: {exc}") from exc
    state.entry = inventory.url


#: Roles that are PostgreSQL servers.
PG_ROLES = ("primary", "standby", "inventory", "shard")


def stop_node(node: Node) -> None:
    if node.role in PG_ROLES:
        if alive(node):
            postgres.stop(node)
        stop_pid(node, grace=10)
    else:
        stop_pid(node, grace=30)


def _stop_all(state: ClusterState, echo: Echo) -> list[int]:
    """Stop every node, balancer first, primary last; then kill -9 anything still running
    under the cluster's directories. Returns the pids that had to be killed that way."""
    for node in reversed(state.nodes):
        if alive(node):
            echo(f"  stopping {node.name} (pid {node.pid})")
            stop_node(node)
    leftovers: list[int] = []
    for root in _roots(state):
        leftovers += processes_under(root)
    kill_pids(leftovers, state.nodes)
    return leftovers


def kill_pids(pids: list[int], nodes: list[Node]) -> None:
    """kill -9 ``pids`` (what still runs under stopped nodes' directories), then whatever
    of ``nodes`` still runs."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    for node in nodes:
        kill_node(node)


def _roots(state: ClusterState) -> list[Path]:
    roots = {Path(n.data).resolve() for n in state.nodes if n.data}
    return sorted(roots)


def remove_data(directory: Path, state: ClusterState) -> None:
    for node in state.nodes:
        if node.role in PG_ROLES:
            postgres.remove_node_dir(directory / node.name)
        elif node.data:
            shutil.rmtree(node.data, ignore_errors=True)


def load(settings: Settings) -> ClusterState:
    state = ClusterState.load(cluster_dir(settings))
    if state is None:
        raise NoCluster(f"no cluster under {cluster_dir(settings)}; "
                        "start one with `bazaar cluster up TOPOLOGY`")
    return state

"""``bazaar broker``: serve the Kafka-compatible log, manage topics, inspect groups."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from bazaar.commands._output import JSON, Col, emit_json, emit_table

if TYPE_CHECKING:
    from bazaar.broker.security import Acl
    from bazaar.config import Settings

app = typer.Typer(help="Bazaar Log: a Kafka-protocol-compatible broker (serve, topics, groups).",
                  no_args_is_help=True)
topics_app = typer.Typer(help="Create, list, describe and delete topics.", no_args_is_help=True)
groups_app = typer.Typer(help="Consumer groups: members and lag.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")
app.add_typer(groups_app, name="groups")
users_app = typer.Typer(help="SASL users (salted SCRAM credentials under the data dir).",
                        no_args_is_help=True)
acls_app = typer.Typer(help="Allow-only ACLs: principal x resource x operation.",
                       no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(acls_app, name="acls")
DATA_DIR = typer.Option(None, "--data-dir", help="The broker's data dir (default: "
                        "BAZAAR_DATA_DIR/broker). A running broker sees changes at once.")

T = TypeVar("T")
BOOTSTRAP = typer.Option(None, "--bootstrap", "-b",
                         help="host:port (default: BAZAAR_KAFKA_BOOTSTRAP, else the local "
                              "broker on BAZAAR_BROKER_PORT).")


def _settings() -> Settings:
    """The environment's settings, or a clean error naming the bad value."""
    from pydantic import ValidationError

    from bazaar.config import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"BAZAAR_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                             for e in exc.errors())
        typer.echo(f"error: bad setting: {problems}", err=True)
        raise typer.Exit(2) from exc


def _bootstrap(value: str | None) -> str:
    if value:
        return value
    settings = _settings()
    return settings.kafka_bootstrap or f"127.0.0.1:{settings.broker_port}"


def _run(coro: Awaitable[T]) -> T:
    from bazaar.broker import BrokerError

    async def wrapped() -> T:
        return await coro

    try:
        return asyncio.run(wrapped())
    except BrokerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


@app.command()
def serve(
    data_dir: Path = typer.Option(None, "--data-dir", help="Default: BAZAAR_DATA_DIR/broker."),
    host: str = typer.Option(None, help="Interface (default: BAZAAR_BROKER_HOST)."),
    port: int = typer.Option(None, help="Port (default: BAZAAR_BROKER_PORT, 9092)."),
    advertised_host: str = typer.Option(None, help="Host told to clients (default: --host)."),
    partitions: int = typer.Option(None, help="Partitions of auto-created topics."),
    auto_create: bool = typer.Option(None, "--auto-create/--no-auto-create",
                                     help="Create topics on first Metadata request."),
    flush: str = typer.Option(None, help="batch (fsync per produce), interval, or os."),
    flush_interval_ms: int = typer.Option(1000, help="With --flush interval."),
    segment_bytes: int = typer.Option(None, help="Roll segments at this size."),
    retention_bytes: int = typer.Option(None, help="Per partition; default: unlimited."),
    retention_ms: int = typer.Option(None, help="Default: 7 days."),
    cleanup_policy: str = typer.Option("delete", help="Default cleanup.policy of topics: "
                                       "delete, compact or compact,delete."),
    cleaner_interval_ms: int = typer.Option(
        15_000, help="How often the log cleaner looks for compacted partitions to clean."),
    cleaner_max_keys: int = typer.Option(
        1_000_000, help="Keys one cleaner pass may map (more: the rest waits a pass)."),
    zero_copy: bool = typer.Option(None, "--zero-copy/--copy",
                                   help="sendfile for Fetch, or read+write (the experiment)."),
    max_request_bytes: int = typer.Option(
        16 * 1024 * 1024, help="Largest Produce request; larger frames are closed unread."),
    max_control_request_bytes: int = typer.Option(
        1024 * 1024, help="Largest request of every other API (closed unread)."),
    queued_max_request_bytes: int = typer.Option(
        64 * 1024 * 1024, help="Request bytes all connections may hold at once (at least "
                               "--max-request-bytes; a request waits, unread, for room)."),
    max_connections: int = typer.Option(1000, help="Open connections; more are refused."),
    request_timeout_ms: int = typer.Option(
        30_000, help="A request not complete this long after its first byte: closed."),
    connections_max_idle_ms: int = typer.Option(600_000, help="Silent connections: closed."),
    write_timeout_ms: int = typer.Option(
        30_000, help="A response the client has not read this long after it began: closed."),
    fetch_max_bytes: int = typer.Option(55 * 1024 * 1024,
                                        help="Most record bytes one Fetch response carries."),
    rebalance_delay_ms: int = typer.Option(300, help="Initial group rebalance delay."),
    metrics_port: int = typer.Option(None, help="Serve Prometheus metrics on this port."),
    tls_cert: Path = typer.Option(None, help="PEM certificate (chain): the listener speaks "
                                  "TLS (security.protocol SSL or SASL_SSL)."),
    tls_key: Path = typer.Option(None, help="PEM private key of --tls-cert."),
    sasl: list[str] = typer.Option(
        [], "--sasl", help="Enable a SASL mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; "
        "repeatable): clients must authenticate, and ACLs are enforced."),
    super_user: list[str] = typer.Option([], "--super-user",
                                         help="User:<name> allowed everything (repeatable)."),
    auth_failure_delay_ms: int = typer.Option(
        100, help="A failed login is answered this late, one at a time per client host."),
    log_level: str = typer.Option("info", help="debug, info, warning, error."),
) -> None:
    """Run the broker until Ctrl-C / SIGTERM."""
    from bazaar.broker import BrokerConfig, ConfigError, LogConfig
    from bazaar.broker import serve as serve_broker

    settings = _settings()
    defaults = LogConfig()
    try:
        log = LogConfig(
            segment_bytes=(settings.broker_segment_bytes if segment_bytes is None
                           else segment_bytes),
            retention_bytes=retention_bytes,
            retention_ms=defaults.retention_ms if retention_ms is None else retention_ms,
            flush=(flush or settings.broker_flush),  # type: ignore[arg-type]
            flush_interval_ms=flush_interval_ms,
            cleanup_policy=cleanup_policy,
        )
        config = BrokerConfig(
            data_dir=data_dir or settings.data_dir / "broker",
            host=settings.broker_host if host is None else host,
            port=settings.broker_port if port is None else port,
            advertised_host=advertised_host,
            auto_create_topics=(settings.broker_auto_create_topics if auto_create is None
                                else auto_create),
            default_partitions=(settings.broker_default_partitions if partitions is None
                                else partitions),
            log=log,
            zero_copy=settings.broker_zero_copy if zero_copy is None else zero_copy,
            max_request_bytes=max_request_bytes,
            max_control_request_bytes=max_control_request_bytes,
            queued_max_request_bytes=max(queued_max_request_bytes, max_request_bytes,
                                         max_control_request_bytes),
            max_connections=max_connections,
            request_timeout_ms=request_timeout_ms,
            connections_max_idle_ms=connections_max_idle_ms,
            write_timeout_ms=write_timeout_ms,
            fetch_max_bytes=fetch_max_bytes,
            group_initial_rebalance_delay_ms=rebalance_delay_ms,
            metrics_port=metrics_port,
            cleaner_interval_ms=cleaner_interval_ms,
            cleaner_max_keys=cleaner_max_keys,
            tls_cert=tls_cert,
            tls_key=tls_key,
            sasl_mechanisms=tuple(m.upper() for m in sasl),
            super_users=tuple(super_user),
            auth_failure_delay_ms=auth_failure_delay_ms,
        )
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    from bazaar.processes import DirLock, DirLocked

    try:  # one broker per log directory: a second one names the first one's pid
        lock = DirLock(config.data_dir, "the broker log directory").acquire()
    except DirLocked as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    from bazaar.telemetry import configure_logging

    # Only a broker that will serve takes over the process's logging (JSON lines, like every
    # service): a refused option must not leave a handler on the caller's stream.
    configure_logging(log_level, settings.log_format)
    try:
        _run(serve_broker(config))
    finally:
        lock.release()


@app.command()
def verify(data_dir: Path = typer.Option(..., "--data-dir",
                                         help="The broker's data dir.")) -> None:
    """Check every record batch's length and CRC32C, changing nothing; exit 1 if any is bad."""
    from bazaar.broker.log import verify_dir

    problems = verify_dir(data_dir / "logs")
    for topic, part, p in problems:
        typer.echo(f"{topic}-{part}: {p.path.name} byte {p.position}: {p.reason}")
    typer.echo(f"{len(problems)} corrupt batch(es)" if problems else "all batches intact")
    if problems:
        raise typer.Exit(1)


@topics_app.command("create")
def topics_create(name: str, partitions: int = typer.Option(1, "--partitions", "-p"),
                  bootstrap: str = BOOTSTRAP) -> None:
    """Create a topic."""
    from bazaar.broker import admin

    _run(admin.create_topic(_bootstrap(bootstrap), name, partitions))
    typer.echo(f"created {name} ({partitions} partitions)")


@topics_app.command("rm")
def topics_rm(name: str, bootstrap: str = BOOTSTRAP) -> None:
    """Delete a topic and its data."""
    from bazaar.broker import admin

    _run(admin.delete_topic(_bootstrap(bootstrap), name))
    typer.echo(f"deleted {name}")


@topics_app.command("ls")
def topics_ls(bootstrap: str = BOOTSTRAP, as_json: bool = JSON) -> None:
    """List topics: partitions and messages."""
    from bazaar.broker import admin

    topics = _run(admin.list_topics(_bootstrap(bootstrap)))
    if as_json:
        return emit_json(topics)
    emit_table([Col("topic", whole=True), Col("partitions"), Col("messages")],
               ([t.name, len(t.partitions), t.messages] for t in topics))


@topics_app.command("describe")
def topics_describe(name: str, bootstrap: str = BOOTSTRAP, as_json: bool = JSON) -> None:
    """Each partition's first and next offset."""
    from bazaar.broker import admin

    topics = _run(admin.list_topics(_bootstrap(bootstrap), [name]))
    if as_json:
        return emit_json(topics)
    emit_table([Col("partition"), Col("start offset"), Col("end offset"), Col("messages")],
               ([p.partition, p.start_offset, p.end_offset, p.end_offset - p.start_offset]
                for t in topics for p in t.partitions), title=name)


@groups_app.command("ls")
def groups_ls(bootstrap: str = BOOTSTRAP, as_json: bool = JSON) -> None:
    """List consumer groups."""
    from bazaar.broker import admin

    groups = _run(admin.list_groups(_bootstrap(bootstrap)))
    if as_json:
        return emit_json(groups)
    for group in groups:
        typer.echo(group)


@groups_app.command("describe")
def groups_describe(group: str, bootstrap: str = BOOTSTRAP, as_json: bool = JSON) -> None:
    """A group's state, members and lag per partition."""
    from bazaar.broker import admin

    info = _run(admin.describe_group(_bootstrap(bootstrap), group))
    if as_json:
        return emit_json(info)
    typer.echo(f"group {info.group_id}: {info.state}, protocol {info.protocol or '-'}, "
               f"total lag {info.lag}")
    emit_table([Col("member", whole=True), Col("client", whole=True), Col("host"),
                Col("partitions")],
               ([m.member_id, m.client_id, m.host,
                 ", ".join(f"{t}-{p}" for t, p in m.assignment)] for m in info.members))
    emit_table([Col("topic", whole=True), Col("partition"), Col("committed"),
                Col("end offset"), Col("lag")],
               ([o.topic, o.partition, o.committed, o.end_offset, o.lag] for o in info.offsets))


def _data_dir(value: Path | None) -> Path:
    return value if value is not None else _settings().data_dir / "broker"


def _config_error(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(2)


@users_app.command("add")
def users_add(
    user: str,
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from stdin (first line)."),
    iterations: int = typer.Option(8192, help="PBKDF2 iterations (at least 4096)."),
    data_dir: Path = DATA_DIR,
    as_json: bool = JSON,
) -> None:
    """Add a user, or set a new password (prompted, or --password-stdin; never an argument).
    Stores SCRAM-SHA-256 and SCRAM-SHA-512 credentials; PLAIN logins check against them."""
    import sys

    from bazaar.broker import ConfigError
    from bazaar.broker.security import CredentialStore

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        new = CredentialStore.under(_data_dir(data_dir)).add(user, password, iterations)
    except ConfigError as exc:
        raise _config_error(exc) from exc
    if as_json:
        return emit_json({"user": user, "created": new, "iterations": iterations})
    typer.echo(f"{'added' if new else 'updated'} user {user} (SCRAM-SHA-256, SCRAM-SHA-512, "
               f"{iterations} iterations)")


@users_app.command("ls")
def users_ls(data_dir: Path = DATA_DIR, as_json: bool = JSON) -> None:
    """List users and the mechanisms they have credentials for (no secrets shown)."""
    from bazaar.broker import ConfigError
    from bazaar.broker.security import CredentialStore

    try:
        users = CredentialStore.under(_data_dir(data_dir)).users()
    except ConfigError as exc:
        raise _config_error(exc) from exc
    if as_json:
        return emit_json([{"user": u, "mechanisms": m} for u, m in users])
    emit_table([Col("user", whole=True), Col("mechanisms", whole=True)],
               ([u, ", ".join(m)] for u, m in users))


@users_app.command("rm")
def users_rm(user: str, data_dir: Path = DATA_DIR) -> None:
    """Remove a user: new logins fail at once (open connections stay until they close)."""
    from bazaar.broker import ConfigError
    from bazaar.broker.security import CredentialStore

    try:
        removed = CredentialStore.under(_data_dir(data_dir)).remove(user)
    except ConfigError as exc:
        raise _config_error(exc) from exc
    if not removed:
        typer.echo(f"error: no user {user}", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed user {user}")


def _acl(principal: str, resource: str, operation: str, pattern: str) -> Acl:
    """``topic:orders`` / ``group:*`` / ``cluster`` into an Acl, or a clean error."""
    from bazaar.broker import ConfigError
    from bazaar.broker.security import Acl
    from bazaar.broker.security.acls import CLUSTER

    kind, _, name = resource.partition(":")
    if kind == "cluster" and not name:
        name = CLUSTER
    try:
        return Acl(principal, kind, name, operation.upper(), pattern)
    except ConfigError as exc:
        raise _config_error(exc) from exc


PRINCIPAL = typer.Option(..., "--principal", help="User:<name>, or User:* for every user.")
RESOURCE = typer.Option(..., "--resource", help="topic:<name>, group:<name>, "
                        "transactional_id:<name> (name or *), or cluster.")
OPERATION = typer.Option(..., "--operation", help="READ, WRITE, CREATE, DESCRIBE, ALTER, "
                         "DELETE or ALL.")
PATTERN = typer.Option("literal", "--pattern", help="literal, or prefixed (the name is a "
                       "prefix).")


@acls_app.command("add")
def acls_add(principal: str = PRINCIPAL, resource: str = RESOURCE,
             operation: str = OPERATION, pattern: str = PATTERN,
             data_dir: Path = DATA_DIR) -> None:
    """Allow a principal an operation on a resource."""
    from bazaar.broker import ConfigError
    from bazaar.broker.security import AclStore

    acl = _acl(principal, resource, operation, pattern)
    try:
        added = AclStore.under(_data_dir(data_dir)).add(acl)
    except ConfigError as exc:
        raise _config_error(exc) from exc
    typer.echo(("added " if added else "already there: ") + _acl_text(acl))


@acls_app.command("rm")
def acls_rm(principal: str = PRINCIPAL, resource: str = RESOURCE,
            operation: str = OPERATION, pattern: str = PATTERN,
            data_dir: Path = DATA_DIR) -> None:
    """Remove one ACL (as listed)."""
    from bazaar.broker import ConfigError
    from bazaar.broker.security import AclStore

    acl = _acl(principal, resource, operation, pattern)
    try:
        removed = AclStore.under(_data_dir(data_dir)).remove(acl)
    except ConfigError as exc:
        raise _config_error(exc) from exc
    if not removed:
        typer.echo(f"error: no such ACL: {_acl_text(acl)}", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed {_acl_text(acl)}")


def _acl_text(acl: Acl) -> str:
    star = "*" if acl.pattern == "prefixed" else ""
    return f"{acl.principal} {acl.operation} {acl.resource_type}:{acl.name}{star}"


@acls_app.command("ls")
def acls_ls(data_dir: Path = DATA_DIR, as_json: bool = JSON) -> None:
    """List the ACLs in force."""
    from dataclasses import asdict

    from bazaar.broker import ConfigError
    from bazaar.broker.security import AclStore

    try:
        acls = AclStore.under(_data_dir(data_dir)).all()
    except ConfigError as exc:
        raise _config_error(exc) from exc
    if as_json:
        return emit_json([asdict(a) for a in acls])
    emit_table([Col("principal", whole=True), Col("resource", whole=True), Col("name",
                whole=True), Col("pattern"), Col("operation")],
               ([a.principal, a.resource_type, a.name, a.pattern, a.operation] for a in acls))


if __name__ == "__main__":  # `python -m bazaar.commands.broker`: no other command groups loaded
    app()

"""PostgreSQL nodes: a primary initdb'd by Bazaar and streaming standbys cloned from it with
``pg_basebackup`` (one replication slot each, so the primary keeps the WAL a standby still
needs). Servers run detached (they outlive ``cluster up``); their real pid is the
postmaster's, read from ``postmaster.pid``.

As root, PostgreSQL runs as the ``postgres`` system user (it refuses root); its data then
lives in a directory that user can reach, linked from the cluster directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from bazaar.cluster.errors import NodeFailed
from bazaar.cluster.state import Node, start_time
from bazaar.localservers import pg_bindir
from bazaar.processes import Child, ChildFailed, NotYet, eventually

#: Settings of every node. fsync stays on: these are the servers a user measures.
BASE_CONF = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "300",
    "shared_buffers": "128MB",
    "wal_level": "replica",
    "max_wal_senders": "16",
    "max_replication_slots": "16",
    "hot_standby": "on",
    # a standby tells the primary which rows its queries still read
    "hot_standby_feedback": "on",
    "wal_receiver_status_interval": "1s",
}


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def node_dir(link: Path) -> Path:
    """A directory for a node's data at ``link``: the directory itself, or (as root) a
    private directory the ``postgres`` user owns, with ``link`` pointing at it."""
    if os.geteuid() != 0:
        link.mkdir(parents=True, exist_ok=True)
        return link
    import pwd

    pw = pwd.getpwnam("postgres")
    real = Path(tempfile.mkdtemp(prefix=f"bazaar-cluster-{link.name}-"))
    os.chown(real, pw.pw_uid, pw.pw_gid)
    os.chmod(real, 0o700)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(real)
    return real


def remove_node_dir(link: Path) -> None:
    if link.is_symlink():
        shutil.rmtree(link.resolve(), ignore_errors=True)
        link.unlink()
    else:
        shutil.rmtree(link, ignore_errors=True)


def dsn(port: int, database: str = "bazaar") -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def sqlalchemy_url(port: int) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/bazaar"


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run([*_as_postgres(), *argv], capture_output=True, text=True)
    if result.returncode != 0:
        raise NodeFailed(f"{what} failed ({result.returncode}): {result.stderr[-1500:]}")


def init_primary(data: Path) -> None:
    _run([str(pg_bindir() / "initdb"), "-D", str(data / "pgdata"), "-U", "postgres",
          "-A", "trust", "-E", "UTF8", "--no-locale"], "initdb")


def clone_standby(data: Path, primary_port: int, slot: str) -> None:
    """``pg_basebackup`` of the primary with ``-R`` (a standby.signal and the primary's
    conninfo) and a new replication slot ``slot``."""
    _run([str(pg_bindir() / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port),
          "-U", "postgres", "-D", str(data / "pgdata"), "-R", "-X", "stream", "-C",
          "-S", slot, "--checkpoint=fast"], f"pg_basebackup for {slot}")


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _accepts(port: int) -> bool:
    try:
        with psycopg.connect(dsn(port, "postgres"), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def start(name: str, role: str, data: Path, port: int, log: Path,
          settings: dict[str, str] | None = None) -> Node:
    """Start the server of ``data`` on ``port`` (detached) and wait until it accepts
    connections (a standby: until it accepts read-only ones)."""
    pgdata = data / "pgdata"
    conf = {**BASE_CONF, "port": str(port), "unix_socket_directories": f"'{data}'",
            **(settings or {})}
    with (pgdata / "postgresql.conf").open("a") as f:
        f.write("\n# bazaar cluster\n")
        for key, value in conf.items():
            f.write(f"{key} = {value}\n")
    log.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # the log is written by the postgres user's process
        log.touch()
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(log, pw.pw_uid, pw.pw_gid)
    child = Child([*_as_postgres(), str(pg_bindir() / "postgres"), "-D", str(pgdata)],
                  name=name, log=log, ready=lambda: _accepts(port), ready_timeout=60,
                  die_with_parent=False)
    try:
        child.start()
    except ChildFailed as exc:
        raise NodeFailed(f"{name}: {exc}") from exc
    try:
        pid: int = eventually(lambda: _postmaster_pid(pgdata) or 0, timeout=10,
                              what="postmaster.pid")
    except NotYet as exc:
        child.kill()
        raise NodeFailed(f"{name}: no postmaster.pid in {pgdata}") from exc
    started = start_time(pid)
    if started is None:
        raise NodeFailed(f"{name}: postmaster {pid} exited right after starting")
    return Node(name, role, pid, "127.0.0.1", port, str(log), started, str(data),
                sqlalchemy_url(port))


def create_database(port: int, name: str = "bazaar") -> None:
    with psycopg.connect(dsn(port, "postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def stop(node: Node, timeout: float = 30.0) -> None:
    """A fast shutdown (``pg_ctl stop -m fast``: sessions rolled back, a clean checkpoint);
    kill -9 if it does not finish within ``timeout``."""
    pgdata = Path(node.data) / "pgdata"
    subprocess.run([*_as_postgres(), str(pg_bindir() / "pg_ctl"), "stop", "-D", str(pgdata),
                    "-m", "fast", "-w", "-t", str(int(timeout))], capture_output=True)


def standby_name(i: int) -> str:
    """Standby ``i``'s name in ``synchronous_standby_names`` (its ``cluster_name``, which
    its WAL receiver sends as ``application_name``)."""
    return f"s{i}"


def standby_names(nodes: list[Node]) -> list[str]:
    """The ``synchronous_standby_names`` entries of standby nodes ``pg-standby-i``."""
    return [standby_name(int(n.name.rsplit("-", 1)[1])) for n in nodes]


def sync_standby_names(mode: str, standbys: int | list[str]) -> str:
    """``all`` → ``FIRST n (s1, …, sn)``: a commit waits for every standby; ``one`` →
    ``ANY 1 (…)``: for whichever answers first; ``async`` → '': for none."""
    listed = ([standby_name(i) for i in range(1, standbys + 1)]
              if isinstance(standbys, int) else standbys)
    names = ", ".join(listed)
    if mode == "async" or not listed:
        return ""
    if mode == "all":
        return f"FIRST {len(listed)} ({names})"
    if mode == "one":
        return f"ANY 1 ({names})"
    raise ValueError(f"unknown replication mode {mode!r}")


def set_replication(primary: Node, mode: str, standbys: int | list[str]) -> None:
    """Switch the primary to ``mode`` (ALTER SYSTEM and a reload: no restart), with
    ``synchronous_commit = remote_apply`` — an acknowledged commit is *visible* on the
    standbys waited for, not merely written. Set once the standbys stream: set earlier, the
    primary's own ``CREATE DATABASE`` would wait for standbys that do not exist yet."""
    names = sync_standby_names(mode, standbys)
    with psycopg.connect(dsn(primary.port, "postgres"), autocommit=True,
                         connect_timeout=5) as conn:
        conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
        conn.execute("ALTER SYSTEM SET synchronous_commit = 'remote_apply'")
        conn.execute("SELECT pg_reload_conf()")

"""A primary and its streaming standbys on their own hosts: each PostgreSQL server in a
network namespace of an emulated network (:mod:`bazaar.netem`), replication crossing links
with a chosen round trip, clients on the machine reaching every server by its Unix socket
(sockets are files, not bound to a network namespace). On one machine the three replication
modes differ by ~0.3 ms; across these links they differ as across a data centre's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bazaar.cluster import postgres
from bazaar.cluster.errors import NodeFailed
from bazaar.localservers import pg_bindir
from bazaar.netem import LinkSpec, Network
from bazaar.processes import Child, ChildFailed, NotYet, eventually

#: Every server listens on this port of its own host (each namespace has its own ports).
PORT = 5432


@dataclass
class LinkedNode:
    name: str          # the netem host: "primary", "s1", "s2", …
    data: Path         # the data directory (its Unix socket lives here)
    link: Path
    address: str
    child: Child | None = None

    @property
    def pgdata(self) -> Path:
        return self.data / "pgdata"

    def dsn(self, database: str = "bazaar") -> str:
        return f"host={self.data} port={PORT} user=postgres dbname={database}"

    def pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


@dataclass
class LinkedCluster:
    net: Network
    primary: LinkedNode
    standbys: list[LinkedNode]
    rtt_ms: dict[str, float] = field(default_factory=dict)

    def connect(self, node: LinkedNode) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(node.dsn(), autocommit=True, connect_timeout=10)

    def set_replication(self, mode: str, commit: str = "remote_apply") -> None:
        """``all`` / ``one`` / ``async`` (:func:`postgres.sync_standby_names`), commits
        waiting as ``commit`` says; returns once the primary reports every standby in the
        matching sync state."""
        names = postgres.sync_standby_names(mode, [s.name for s in self.standbys])
        with self.connect(self.primary) as conn:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
            conn.execute(f"ALTER SYSTEM SET synchronous_commit = '{commit}'")
            conn.execute("SELECT pg_reload_conf()")
            want = {"all": "sync", "one": "quorum", "async": "async"}[mode]

            def settled() -> bool:
                rows = conn.execute("SELECT sync_state FROM pg_stat_replication").fetchall()
                return len(rows) == len(self.standbys) and all(r[0] == want for r in rows)

            eventually(settled, timeout=20, what=f"standbys in sync state {want}")

    def crash(self, node: LinkedNode) -> None:
        """kill -9 of ``node``'s postmaster; its backends exit as they notice."""
        pid = node.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if node.child is not None:
            eventually(lambda: not _alive(pid), timeout=10, what=f"{node.name} gone")


def _alive(pid: int | None) -> bool:
    return pid is not None and Path(f"/proc/{pid}").exists() and \
        "zombie" not in Path(f"/proc/{pid}/status").read_text(errors="replace").lower()


def _as_postgres(argv: Sequence[object]) -> list[str]:
    return [*(["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []), *map(str, argv)]


def _owner(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid


def _start(net: Network, node: LinkedNode, log: Path, settings: dict[str, str],
           wait: bool = True) -> None:
    conf = {**postgres.BASE_CONF, "listen_addresses": f"'{node.address}'", "port": str(PORT),
            "unix_socket_directories": f"'{node.data}'", **settings}
    with (node.pgdata / "postgresql.conf").open("a") as f:
        f.write("\n# bazaar linked cluster\n")
        f.writelines(f"{k} = {v}\n" for k, v in conf.items())
    if os.geteuid() == 0:
        import pwd

        log.parent.mkdir(parents=True, exist_ok=True)
        log.touch()
        pw = pwd.getpwnam("postgres")
        os.chown(log, pw.pw_uid, pw.pw_gid)

    def accepts() -> bool:
        try:
            with psycopg.connect(node.dsn("postgres"), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    node.child = Child(net.argv(node.name, _as_postgres(
        [pg_bindir() / "postgres", "-D", node.pgdata])), name=f"pg-{node.name}", log=log,
        ready=accepts, ready_timeout=60)
    node.child.spawn()
    if wait:
        try:
            node.child.wait_ready()
        except ChildFailed as exc:
            raise NodeFailed(f"{node.name}: {exc}") from exc


def _stop(node: LinkedNode) -> None:
    if node.pid() is not None and _alive(node.pid()):
        subprocess.run(_as_postgres([pg_bindir() / "pg_ctl", "stop", "-D", node.pgdata,
                                     "-m", "immediate", "-w", "-t", "20"]),
                       capture_output=True)
    if node.child is not None:
        node.child.stop(grace=5)


@contextlib.contextmanager
def linked_postgres(directory: Path, rtt_ms: Sequence[float] = (2.6, 11.0),
                    seed: int | None = None) -> Iterator[LinkedCluster]:
    """A primary on host ``primary`` and a standby ``s{i}`` per entry of ``rtt_ms``, each
    standby's link to the primary delayed to that round trip (set once the base backups are
    taken). Each has a database ``bazaar``; replication starts ``async``. Stopped and deleted
    on exit."""
    hosts = ["primary", *(f"s{i}" for i in range(1, len(rtt_ms) + 1))]
    net = Network(hosts, directory / "net", seed=seed)
    nodes: list[LinkedNode] = []
    with net:
        try:
            for h in hosts:
                link = directory / f"pg-{h}"
                nodes.append(LinkedNode(h, postgres.node_dir(link), link, net.address(h)))
            primary, standbys = nodes[0], nodes[1:]
            # --no-sync: a throwaway cluster need not wait for initdb's files to reach the
            # disk (the servers themselves keep fsync on: commits are measured for real).
            out = subprocess.run(_as_postgres([
                pg_bindir() / "initdb", "-D", primary.pgdata, "-U", "postgres", "-A", "trust",
                "-E", "UTF8", "--no-locale", "--no-sync"]), capture_output=True, text=True)
            if out.returncode != 0:
                raise NodeFailed(f"initdb failed: {out.stderr[-1500:]}")
            with (primary.pgdata / "pg_hba.conf").open("a") as f:
                f.write("host all all 10.77.0.0/24 trust\n"
                        "host replication all 10.77.0.0/24 trust\n")
            # A copy of a cleanly shut down (here: never started) data directory is a valid
            # base backup: the standbys start at its checkpoint and stream from there.
            for s in standbys:
                subprocess.run(["cp", "-a", str(primary.pgdata), str(s.pgdata)], check=True)
                (s.pgdata / "standby.signal").touch()
                shutil.chown(s.pgdata / "standby.signal", *_owner(s.pgdata))
            _start(net, primary, directory / "logs" / "pg-primary.log", {})
            with psycopg.connect(primary.dsn("postgres"), autocommit=True) as conn:
                for s in standbys:
                    conn.execute("SELECT pg_create_physical_replication_slot(%s)",
                                 (f"slot_{s.name}",))
                conn.execute('CREATE DATABASE "bazaar"')
            for s in standbys:
                _start(net, s, directory / "logs" / f"pg-{s.name}.log", {
                    "cluster_name": f"'{s.name}'", "primary_slot_name": f"'slot_{s.name}'",
                    "primary_conninfo": f"'host={primary.address} port={PORT} "
                                        f"user=postgres application_name={s.name}'"},
                       wait=False)
            for s in standbys:
                assert s.child is not None
                try:
                    s.child.wait_ready()
                except ChildFailed as exc:
                    raise NodeFailed(f"{s.name}: {exc}") from exc
            cluster = LinkedCluster(net, primary, standbys)
            with cluster.connect(primary) as conn:
                try:
                    eventually(lambda: conn.execute(
                        "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                    ).fetchone() == (len(standbys),), timeout=30, what="standbys streaming")
                except NotYet as exc:
                    raise NodeFailed(str(exc)) from exc
            for s, rtt in zip(standbys, rtt_ms, strict=True):
                net.set_link("primary", s.name, LinkSpec(delay_ms=rtt / 2))
            yield cluster
        finally:
            for node in reversed(nodes):
                _stop(node)
            for node in nodes:
                postgres.remove_node_dir(node.link)

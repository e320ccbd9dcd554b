from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bazaar.processes import Child, ChildFailed, NotYet, eventually, free_port


class ServerUnavailable(RuntimeError):
    """The server's binary is not installed, or it did not come up."""


@dataclass
class LocalServer:
    """A running server: where it listens, and how to reach it."""

    name: str
    host: str
    port: int
    url: str
    child: Child
    directory: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.child.process

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        self.child.stop(grace=10)

    def kill(self) -> None:
        """kill -9, for crash tests."""
        self.child.kill()


def _start(child: Child, what: str) -> Child:
    """Start ``child`` until ready; a failure is :class:`ServerUnavailable` with its log."""
    try:
        return child.start()
    except ChildFailed as exc:
        raise ServerUnavailable(f"{what}: {exc}") from exc


def _which(binary: str, package: str) -> str:
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/bin:/sbin")
    if not path:
        raise ServerUnavailable(f"{binary} not found: apt-get install {package}")
    return path


@contextlib.contextmanager
def redis(*, port: int | None = None, args: tuple[str, ...] = ()) -> Iterator[LocalServer]:
    """A Redis server with no persistence, on 127.0.0.1."""
    binary = _which("redis-server", "redis-server")
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="bazaar-redis-") as d:
        log = Path(d) / "redis.log"
        child = Child([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                       "--appendonly", "no", "--dir", d, "--logfile", str(log), *args],
                      name="redis-server", ready_port=port, ready_timeout=15)
        server = LocalServer("redis", "127.0.0.1", port, f"redis://127.0.0.1:{port}/0", child,
                             Path(d))
        try:
            _start(child, f"redis-server (log {log})")
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def memcached(*, port: int | None = None, memory_mb: int = 128) -> Iterator[LocalServer]:
    """A Memcached server on 127.0.0.1."""
    binary = _which("memcached", "memcached")
    port = port or free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory(prefix="bazaar-memcached-") as d:
        child = Child([binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0",
                       "-m", str(memory_mb), *user], name="memcached", ready_port=port,
                      ready_timeout=15, log=Path(d) / "memcached.log")
        server = LocalServer("memcached", "127.0.0.1", port, f"memcached://127.0.0.1:{port}",
                             child, Path(d))
        try:
            _start(child, "memcached")
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def nats(*, port: int | None = None, jetstream: bool = True) -> Iterator[LocalServer]:
    """A NATS server (with JetStream storing under a private directory) on 127.0.0.1."""
    binary = _which("nats-server", "nats-server")
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="bazaar-nats-") as d:
        js = ["-js", "-sd", d] if jetstream else []
        child = Child([binary, "-a", "127.0.0.1", "-p", str(port), *js], name="nats-server",
                      ready_port=port, ready_timeout=15, log=Path(d) / "nats.log")
        server = LocalServer("nats", "127.0.0.1", port, f"nats://127.0.0.1:{port}", child,
                             Path(d))
        try:
            _start(child, "nats-server")
            yield server
        finally:
            server.stop()


def pg_bindir() -> Path:
    """Where the PostgreSQL server binaries are (the newest installed major version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServerUnavailable("PostgreSQL server binaries not found: apt-get install postgresql")


@contextlib.contextmanager
def postgres(*, port: int | None = None, settings: dict[str, str] | None = None,
             fsync: bool = False) -> Iterator[LocalServer]:
    """A throwaway PostgreSQL cluster on 127.0.0.1, trust auth, database ``bazaar``.

    ``fsync`` is off by default (tests); the lab turns it on where durability is measured.
    As root, the cluster runs as the ``postgres`` system user (initdb refuses root).
    """
    bindir = pg_bindir()
    port = port or free_port()
    as_user: list[str] = []
    d = tempfile.mkdtemp(prefix="bazaar-pg-")
    data = Path(d) / "data"
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServerUnavailable("no 'postgres' user to run PostgreSQL as root") from exc
        os.chown(d, pw.pw_uid, pw.pw_gid)
        os.chmod(d, 0o755)
        as_user = ["runuser", "-u", "postgres", "--"]
    log = Path(d) / "postgres.log"
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                        "-A", "trust", "-E", "UTF8", "--no-locale"],
                       check=True, capture_output=True)
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{d}'",
            "fsync": "on" if fsync else "off",
            "synchronous_commit": "on" if fsync else "off",
            "full_page_writes": "on" if fsync else "off",
            "max_connections": "200",
            "shared_buffers": "128MB",
            **(settings or {}),
        }
        with (data / "postgresql.conf").open("a") as f:
            for key, value in conf.items():
                f.write(f"{key} = {value}\n")
        child = Child([*as_user, str(bindir / "postgres"), "-D", str(data)], name="postgres",
                      log=log, ready_port=port, ready_timeout=30)
        server = LocalServer("postgres", "127.0.0.1", port,
                             f"postgresql+psycopg://postgres@127.0.0.1:{port}/bazaar", child,
                             Path(d), extra={"bindir": str(bindir), "data": str(data),
                                             "dsn": f"postgresql://postgres@127.0.0.1:{port}/bazaar"})
        try:
            _start(child, "postgres")

            def create_database() -> bool:
                r = subprocess.run([str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port),
                                    "-U", "postgres", "-d", "postgres", "-qAt", "-c",
                                    "CREATE DATABASE bazaar"], capture_output=True)
                if r.returncode == 0 or b"already exists" in r.stderr:
                    return True
                raise ServerUnavailable(r.stderr.decode(errors="replace")[-500:])

            try:
                eventually(create_database, timeout=30, interval=0.1, what="CREATE DATABASE")
            except NotYet as exc:
                raise ServerUnavailable(f"postgres not ready: {exc}") from exc
            yield server
        finally:
            server.stop()
    except subprocess.CalledProcessError as exc:
        raise ServerUnavailable(f"initdb failed: {exc.stderr.decode(errors='replace')}") from exc
    finally:
        shutil.rmtree(d, ignore_errors=True)

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


class ServerUnavailable(RuntimeError):
    """The server's binary is not installed, or it did not come up."""


@dataclass
class LocalServer:
    """A running server: where it listens, and how to reach it."""

    name: str
    host: str
    port: int
    url: str
    process: subprocess.Popen[bytes]
    directory: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """kill -9, for crash tests."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float,
               what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            detail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise ServerUnavailable(f"{what} exited with {process.returncode}: {detail}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    process.kill()
    raise ServerUnavailable(f"{what} did not listen on {host}:{port} within {timeout:.0f}s")


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
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", d, "--logfile", str(log), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        server = LocalServer("redis", "127.0.0.1", port, f"redis://127.0.0.1:{port}/0", proc,
                             Path(d))
        try:
            _wait_port("127.0.0.1", port, proc, 15, "redis-server", log)
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
        proc = subprocess.Popen([binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0",
                                 "-m", str(memory_mb), *user],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = LocalServer("memcached", "127.0.0.1", port, f"memcached://127.0.0.1:{port}",
                             proc, Path(d))
        try:
            _wait_port("127.0.0.1", port, proc, 15, "memcached")
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
        proc = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(port), *js],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = LocalServer("nats", "127.0.0.1", port, f"nats://127.0.0.1:{port}", proc, Path(d))
        try:
            _wait_port("127.0.0.1", port, proc, 15, "nats-server")
            yield server
        finally:
            server.stop()


def _pg_bindir() -> Path:
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
    bindir = _pg_bindir()
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
        logf = log.open("wb")
        if as_user:
            import pwd as _pwd

            pw = _pwd.getpwnam("postgres")
            os.chown(log, pw.pw_uid, pw.pw_gid)
        proc = subprocess.Popen([*as_user, str(bindir / "postgres"), "-D", str(data)],
                                stdout=logf, stderr=subprocess.STDOUT)
        server = LocalServer("postgres", "127.0.0.1", port,
                             f"postgresql+psycopg://postgres@127.0.0.1:{port}/bazaar", proc,
                             Path(d), extra={"bindir": str(bindir), "data": str(data),
                                             "dsn": f"postgresql://postgres@127.0.0.1:{port}/bazaar"})
        try:
            _wait_port("127.0.0.1", port, proc, 30, "postgres", log)
            deadline = time.monotonic() + 30
            while True:
                r = subprocess.run([str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port),
                                    "-U", "postgres", "-d", "postgres", "-qAt", "-c",
                                    "CREATE DATABASE bazaar"], capture_output=True)
                if r.returncode == 0 or b"already exists" in r.stderr:
                    break
                if time.monotonic() > deadline:
                    raise ServerUnavailable(f"postgres not ready: {r.stderr.decode()[-500:]}")
                time.sleep(0.1)
            yield server
        finally:
            server.stop()
            logf.close()
    except subprocess.CalledProcessError as exc:
        raise ServerUnavailable(f"initdb failed: {exc.stderr.decode(errors='replace')}") from exc
    finally:
        shutil.rmtree(d, ignore_errors=True)

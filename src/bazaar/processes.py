"""Processes and waiting: one small toolkit for everything that starts a program or waits on
a condition — the supervisor of ``bazaar up``, ``localservers``, the broker, orchestrator and
functions test rigs, the labs and the tests.

- :func:`free_port` — a loopback port nobody listens on right now.
- :func:`port_free` — whether a port can be bound (checked before starting anything).
- :class:`Child` — one child process: argv, env, cwd, a log file, readiness (a TCP port, an
  HTTP URL or any check) with a deadline, ``stop()`` = TERM then KILL after a grace,
  ``kill()`` (-9, for crash tests), and death with its parent (Linux ``PR_SET_PDEATHSIG``).
- :func:`eventually` — poll a condition until it holds or a deadline passes; the failure says
  what was last seen.
- :class:`DirLock` — one owner per data directory: ``flock`` on a lock file holding the
  owner's pid, released by the kernel when the owner dies, even by kill -9.

A leaf: it imports no other ``bazaar`` module, so every component may use it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TypeVar

__all__ = [
    "Child",
    "ChildFailed",
    "DirLock",
    "DirLocked",
    "NotYet",
    "eventually",
    "free_port",
    "port_answers",
    "port_free",
    "private_dir",
    "url_answers",
]

T = TypeVar("T")


class NotYet(TimeoutError):
    """:func:`eventually` ran out of time; ``last`` is the last value or error seen."""

    def __init__(self, message: str, last: object = None) -> None:
        super().__init__(message)
        self.last = last


class ChildFailed(RuntimeError):
    """A child exited before it was ready, or did not become ready in time.

    The message names the child, says why, and ends with the tail of its log.
    """


def private_dir(path: Path) -> Path:
    """Create ``path`` (with its parents) if needed and make it 0700: its owner's secrets
    (keys, passwords, databases) below it are out of reach of every other uid, sandboxes
    included, whatever the files' own modes and the umask."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != 0o700:
        os.chmod(path, 0o700)
    return path


class DirLocked(RuntimeError):
    """Another live process owns the directory; ``pid`` is the holder (None if unknown)."""

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


# --- ports ------------------------------------------------------------------------------------

#: Ports handed out by :func:`free_port` in this process (never handed out twice).
_HANDED_OUT: set[int] = set()
_PORT_PICKER = random.SystemRandom()
#: The lowest port :func:`free_port` picks (below are well-known and registered services).
_LOWEST_PICK = 10_000


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for ``bind(port 0)`` and outgoing connections."""
    with contextlib.suppress(OSError, ValueError):
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    return 32768, 60999  # Linux's default


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free now and stays free until its user binds it.

    Picked at random *below* the kernel's ephemeral range: the kernel's own picks (a server
    bound to port 0, the local end of every outgoing connection) come from that range, so
    none of them can take the port in the moment between this call and the bind. (A kernel
    pick, returned here and released, can be handed straight to the next ``bind(0)``: a
    balancer's port was once taken that way by an app server's gRPC listener.) Never the
    same port twice in one process.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    low, _ = _ephemeral_range()
    if low - _LOWEST_PICK >= 1000:
        for _ in range(500):
            port = _PORT_PICKER.randrange(_LOWEST_PICK, low)
            if port in _HANDED_OUT:
                continue
            with socket.socket(family, socket.SOCK_STREAM) as s:
                try:
                    s.bind((host, port))  # no SO_REUSEADDR: not even a TIME_WAIT leftover
                except OSError:
                    continue
            _HANDED_OUT.add(port)
            return port
    with socket.socket(family, socket.SOCK_STREAM) as s:  # a tiny range: the kernel's pick
        s.bind((host, 0))
        port = int(s.getsockname()[1])
    _HANDED_OUT.add(port)
    return port


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` can be bound now (port 0 always can).

    Binds with ``SO_REUSEADDR`` like the servers do, so a port in TIME_WAIT counts as free.
    """
    if port == 0:
        return True
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def url_answers(url: str, timeout: float = 1.0, *, ok: Callable[[int], bool] | None = None
                ) -> bool:
    """Whether an HTTP GET of ``url`` answers with a status ``ok`` accepts (default: 2xx)."""
    accept = ok or (lambda status: 200 <= status < 300)
    request = urllib.request.Request(url, headers={"Accept": "*/*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return accept(int(response.status))
    except urllib.error.HTTPError as exc:
        return accept(int(exc.code))
    except (OSError, ValueError):
        return False


# --- waiting ----------------------------------------------------------------------------------

def eventually(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, *,
               what: str | None = None) -> T:
    """Call ``condition`` until it returns a truthy value, and return that value.

    An exception from ``condition`` counts as "not yet" (an assertion inside it is the usual
    way to say what is expected). After ``timeout`` seconds :class:`NotYet` is raised, saying
    ``what`` was awaited and the last value or error seen (chained as its cause). Bounded in
    time, and ``condition`` runs at least once.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
        except Exception as exc:  # "not yet": remember why
            last, last_error = exc, exc
        else:
            if value:
                return value
            last, last_error = value, None
        if time.monotonic() >= deadline:
            name = what or getattr(condition, "__name__", "condition")
            seen = (f"last error: {type(last_error).__name__}: {last_error}"
                    if last_error is not None else f"last value: {last!r}")
            raise NotYet(f"{name} did not hold within {timeout:g}s ({seen})", last) \
                from last_error
        time.sleep(max(0.0, min(interval, deadline - time.monotonic())))


# --- child processes --------------------------------------------------------------------------

def _pdeathsig_hook(new_session: bool, die_with_parent: bool) -> Callable[[], None] | None:
    """A pre-exec hook: own session, and SIGTERM when the parent dies (Linux).

    libc is loaded here, in the parent, so the forked child only makes two system calls.
    """
    prctl: Callable[..., int] | None = None
    if die_with_parent and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            prctl = ctypes.CDLL(None, use_errno=True).prctl
    if not new_session and prctl is None:
        return None
    parent = os.getpid()

    def hook() -> None:  # pragma: no cover - runs in the forked child
        if new_session:
            os.setsid()
        if prctl is not None:
            prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
            if os.getppid() != parent:  # the parent died before prctl took effect
                os.kill(os.getpid(), signal.SIGTERM)

    return hook


class Child:
    """One child process with a log file, a readiness check and an orderly stop.

    ``env`` is the child's whole environment (default: this process's). Output (stdout and
    stderr) is appended to ``log``, or discarded when ``log`` is None. Readiness is
    ``ready_port`` (a TCP connect to ``ready_host``), ``ready_url`` (an HTTP 2xx) or
    ``ready`` (any check); :meth:`start` returns once it holds, or raises
    :class:`ChildFailed` if the child exits first or ``ready_timeout`` passes.

    By default the child runs in its own session (a Ctrl-C at the terminal reaches only the
    parent, which stops its children in order) and receives SIGTERM when the thread that
    started it dies, even by kill -9 — so start long-lived children from a long-lived thread.
    """

    def __init__(self, argv: Sequence[str], *, name: str | None = None,
                 env: Mapping[str, str] | None = None, cwd: Path | str | None = None,
                 log: Path | None = None, ready_port: int | None = None,
                 ready_host: str = "127.0.0.1", ready_url: str | None = None,
                 ready: Callable[[], bool] | None = None, ready_timeout: float = 30.0,
                 grace: float = 10.0, new_session: bool = True,
                 die_with_parent: bool = True) -> None:
        self.argv = [str(a) for a in argv]
        self.name = name or Path(self.argv[0]).name
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.log = log
        self.ready_port, self.ready_host, self.ready_url = ready_port, ready_host, ready_url
        self.ready_check = ready
        self.ready_timeout = ready_timeout
        self.grace = grace
        self.new_session, self.die_with_parent = new_session, die_with_parent
        self._process: subprocess.Popen[bytes] | None = None

    # -- state -------------------------------------------------------------------------------
    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """None while running (or never started), else the exit status (-N: signal N)."""
        return None if self._process is None else self._process.poll()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_text(self, tail: int | None = None) -> str:
        """The log so far (the last ``tail`` characters), or "" without one."""
        if self.log is None or not self.log.exists():
            return ""
        text = self.log.read_text(errors="replace")
        return text[-tail:] if tail else text

    # -- lifecycle ---------------------------------------------------------------------------
    def spawn(self) -> Child:
        """Start the process without waiting for readiness."""
        if self.alive:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            out = self.log.open("ab")
        try:
            self._process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.cwd,
                preexec_fn=_pdeathsig_hook(self.new_session, self.die_with_parent))
        finally:
            if not isinstance(out, int):
                out.close()
        return self

    def is_ready(self) -> bool:
        """Whether the readiness check holds now (True when there is none)."""
        if self.ready_port is not None and not port_answers(self.ready_port, self.ready_host):
            return False
        if self.ready_url is not None and not url_answers(self.ready_url):
            return False
        return self.ready_check is None or bool(self.ready_check())

    def wait_ready(self, timeout: float | None = None) -> Child:
        """Block until ready; :class:`ChildFailed` (with the log's tail) if it exits first or
        the deadline passes — in which case the child is killed."""
        limit = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            code = self.process.poll()
            if code is not None:
                raise ChildFailed(f"{self.name} exited with {code} before it was ready"
                                  f"{self._log_tail()}")
            if self.is_ready():
                return self
            if time.monotonic() >= deadline:
                self.kill()
                raise ChildFailed(f"{self.name} was not ready within {limit:g}s "
                                  f"({self._readiness()}){self._log_tail()}")
            time.sleep(0.05)

    def start(self) -> Child:
        """Spawn and wait until ready."""
        return self.spawn().wait_ready()

    def send(self, sig: int) -> None:
        """Send ``sig`` to the process (nothing if it has exited)."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit and return its status (``subprocess.TimeoutExpired`` if not)."""
        return self.process.wait(timeout)

    def stop(self, grace: float | None = None, sig: int = signal.SIGTERM) -> int | None:
        """``sig`` (TERM), then KILL after ``grace`` seconds; return the exit status."""
        if self._process is None:
            return None
        self.send(sig)
        try:
            return self.process.wait(self.grace if grace is None else grace)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int:
        """kill -9 (its whole group when it has its own session) and reap it."""
        process = self.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if self.new_session:
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    process.kill()
        return process.wait()

    def __enter__(self) -> Child:
        if self._process is None:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = ("not started" if self._process is None else
                 f"pid {self._process.pid}" if self.alive else f"exited {self.returncode}")
        return f"<Child {self.name} {state}>"

    def _readiness(self) -> str:
        parts = []
        if self.ready_port is not None:
            parts.append(f"port {self.ready_host}:{self.ready_port}")
        if self.ready_url is not None:
            parts.append(f"url {self.ready_url}")
        if self.ready_check is not None:
            parts.append("its readiness check")
        return ", ".join(parts) or "no check"

    def _log_tail(self, chars: int = 2000) -> str:
        tail = self.log_text(chars)
        return f" (log {self.log}):\n{tail}" if self.log is not None else ""


# --- one owner per directory ------------------------------------------------------------------

class DirLock:
    """An exclusive ``flock`` on ``directory/name`` holding the owner's pid.

    :meth:`acquire` raises :class:`DirLocked` naming the holder when another live process owns
    the directory. The kernel drops the lock when the holder's file closes — on exit, crash or
    kill -9 — so a stale lock file never blocks a restart. Children inherit nothing: the file
    is opened close-on-exec.
    """

    def __init__(self, directory: Path, what: str = "this data directory",
                 name: str = ".lock") -> None:
        self.directory = Path(directory)
        self.path = self.directory / name
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> int | None:
        """The pid written by the current (or last) owner, if readable."""
        with contextlib.suppress(OSError, ValueError):
            return int(self.path.read_text().split()[0])
        return None

    def acquire(self) -> DirLock:
        if self._fd is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = self.holder()
            who = f"process {pid}" if pid is not None else "another process"
            raise DirLocked(f"{self.what} {self.directory} is in use by {who} (lock "
                            f"{self.path}); stop it or choose another directory", pid) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

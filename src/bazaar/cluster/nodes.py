"""App server nodes (``bazaar up`` processes, detached) and stopping any node by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from bazaar.cluster.errors import NodeFailed
from bazaar.cluster.state import Node, alive, start_time
from bazaar.processes import Child, ChildFailed


def start_app(name: str, port: int, data_dir: Path, log: Path, env: Mapping[str, str], *,
              services: bool = False, timeout: float = 120.0) -> Child:
    """Spawn ``bazaar up`` for one app server (not waiting: servers start side by side)."""
    argv = [sys.executable, "-m", "bazaar.cli", "up", "--host", "127.0.0.1", "--port",
            str(port), "--data-dir", str(data_dir),
            # Each app server's gRPC API on a free port of its own (the default 50051 is one
            # port for the whole machine: the second app server could not start).
            "--grpc-port", "0"]
    if not services:
        argv.append("--no-services")
    return Child(argv, name=name, env=env, log=log,
                 ready_url=f"http://127.0.0.1:{port}/health", ready_timeout=timeout,
                 grace=30, die_with_parent=False).spawn()


def app_node(child: Child, role: str, port: int, data_dir: Path) -> Node:
    """Wait for a spawned app server and describe it."""
    try:
        child.wait_ready()
    except ChildFailed as exc:
        raise NodeFailed(f"{child.name}: {exc}") from exc
    started = start_time(child.pid)
    if started is None:
        raise NodeFailed(f"{child.name} exited right after becoming ready")
    return Node(child.name, role, child.pid, "127.0.0.1", port, str(child.log), started,
                str(data_dir), f"http://127.0.0.1:{port}")


def wait_gone(node: Node, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(node):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def signal_node(node: Node, sig: int) -> None:
    if alive(node):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(node.pid, sig)


def stop_pid(node: Node, grace: float = 30.0) -> bool:
    """TERM, then KILL (its process group too) after ``grace``; True if it stopped on TERM."""
    if not alive(node):
        return True
    signal_node(node, signal.SIGTERM)
    if wait_gone(node, grace):
        return True
    kill_node(node)
    return False


def kill_node(node: Node) -> None:
    """kill -9 the node and its process group (a ``bazaar up`` group includes its workers)."""
    if not alive(node):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        group = os.getpgid(node.pid)
        if group != os.getpgrp():  # never our own group
            os.killpg(group, signal.SIGKILL)
    signal_node(node, signal.SIGKILL)
    wait_gone(node, 10)


def start_redis(name: str, port: int, directory: Path, log: Path) -> Node:
    """A Redis server (no persistence: a cache and short-lived auth state), detached."""
    import shutil

    binary = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin")
    if not binary:
        raise NodeFailed("redis-server not found: apt-get install redis-server")
    directory.mkdir(parents=True, exist_ok=True)
    child = Child([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(directory), "--logfile", str(log)],
                  name=name, log=log, ready_port=port, ready_timeout=30,
                  die_with_parent=False)
    try:
        child.start()
    except ChildFailed as exc:
        raise NodeFailed(f"{name}: {exc}") from exc
    started = start_time(child.pid)
    if started is None:
        raise NodeFailed(f"{name} exited right after starting")
    return Node(name, "cache", child.pid, "127.0.0.1", port, str(log), started,
                str(directory), f"redis://127.0.0.1:{port}")

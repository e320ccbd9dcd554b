"""A worker host: a separate process that runs sandboxes for the worker manager.

It dials the control plane, registers its capacity, heartbeats, and answers ``spawn``,
``invoke`` and ``kill``. Packages are fetched from the control plane once per digest, checked
against the digest, and cached on the host. When the control channel drops, the host kills its
sandboxes and exits: a host without a manager serves nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bazaar.functions._errors import FunctionsError
from bazaar.functions._packages import digest_of
from bazaar.functions._sandbox import Sandbox, SandboxFailed, SandboxLimits, SandboxSpec
from bazaar.functions._vm import status as vm_status
from bazaar.functions._wire import Peer

UID_BASE = 1_000_000


@dataclass(frozen=True)
class HostConfig:
    """A worker host's settings: where the control plane is and what the host offers."""

    control: Path  # the control plane's unix socket
    work_dir: Path
    memory_mb: int = 2048
    slots: int = 64
    heartbeat_s: float = 1.0
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    host_id: str = ""


class WorkerHost:
    """Runs sandboxes on this machine for one control plane."""

    def __init__(self, config: HostConfig) -> None:
        self.config = config
        self.host_id = config.host_id or f"{socket.gethostname()}-{os.getpid()}"
        self._sandboxes: dict[str, Sandbox] = {}
        self._uids: set[int] = set()
        self._peer: Peer | None = None
        self._fetching: dict[str, asyncio.Task[Path]] = {}
        self._packages = config.work_dir.resolve() / "packages"
        self._work = config.work_dir.resolve() / "sandboxes"
        self._next_uid = 0

    async def run(self) -> None:
        """Connect, register, heartbeat and serve until the control channel drops."""
        self._packages.mkdir(parents=True, exist_ok=True)
        self._work.mkdir(parents=True, exist_ok=True)
        _become_subreaper()
        reaping = asyncio.create_task(self._reap_orphans())
        try:
            reader, writer = await asyncio.open_unix_connection(self.config.control,
                                                                limit=2**20)
        except OSError as exc:
            reaping.cancel()
            raise FunctionsError(f"cannot reach the control plane at {self.config.control}: "
                                 f"{exc}") from exc
        self._peer = peer = Peer(reader, writer, self._handle)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            # stop like a dropped channel: every sandbox, and what it forked, is killed
            loop.add_signal_handler(sig, peer.close)
        serving = asyncio.create_task(peer.serve())
        beating: asyncio.Task[None] | None = None
        try:
            await peer.call("register", {
                "host_id": self.host_id, "memory_mb": self.config.memory_mb,
                "slots": self.config.slots, "pid": os.getpid(),
                "isolation": {"vm": vm_status()}}, timeout=10)
            beating = asyncio.create_task(self._heartbeat(peer))
            await serving
        finally:
            reaping.cancel()
            if beating is not None:
                beating.cancel()
            peer.close()
            await asyncio.gather(*(s.kill() for s in list(self._sandboxes.values())))

    async def _heartbeat(self, peer: Peer) -> None:
        while not peer.closed:
            peer.notify("heartbeat", {"host_id": self.host_id,
                                      "sandboxes": len(self._sandboxes),
                                      "isolation": {"vm": vm_status()}})
            await asyncio.sleep(self.config.heartbeat_s)

    async def _handle(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        if op == "invoke":
            return await self._invoke(body)
        if op == "spawn":
            return await self._spawn(body)
        if op == "kill":
            sandbox = self._sandboxes.pop(body["sandbox_id"], None)
            if sandbox is not None:
                await self._discard(sandbox)
            return {}
        if op == "stats":
            return {"sandboxes": len(self._sandboxes), "pid": os.getpid()}
        raise ValueError(f"unknown op {op!r}")

    async def _package(self, digest: str) -> Path:
        path = self._packages / f"{digest}.zip"
        if path.exists():
            return path
        task = self._fetching.get(digest)
        if task is None:
            task = self._fetching[digest] = asyncio.create_task(self._fetch(digest, path))
            task.add_done_callback(lambda _: self._fetching.pop(digest, None))
        return await task

    async def _fetch(self, digest: str, path: Path) -> Path:
        assert self._peer is not None
        reply = await self._peer.call("package", {"digest": digest}, timeout=60)
        blob: bytes = reply["blob"]
        if digest_of(blob) != digest:
            raise ValueError(f"package {digest} failed its hash check")
        tmp = path.with_suffix(f".tmp{uuid.uuid4().hex}")
        tmp.write_bytes(blob)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        return path

    def _uid(self) -> int:
        """A uid no live sandbox of this host uses, rotating so a uid whose last processes
        are still being reaped is not handed out again at once (they count for NPROC)."""
        if os.geteuid() != 0:
            return 0  # not root: cannot switch uid; RLIMIT_NPROC applies to our own uid
        base = UID_BASE + (os.getpid() % 100_000) * 1000
        for _ in range(1000):
            self._next_uid = (self._next_uid + 1) % 1000
            if base + self._next_uid not in self._uids:
                break
        uid = base + self._next_uid
        self._uids.add(uid)
        return uid

    async def _reap_orphans(self) -> None:
        # We are a child subreaper: processes a handler forked and left behind are
        # re-parented to us when their sandbox dies. Reap them, or their zombies would keep
        # counting against their uid's RLIMIT_NPROC. Sandboxes themselves are asyncio's.
        me = os.getpid()
        while True:
            await asyncio.sleep(1.0)
            ours = {s.pid for s in self._sandboxes.values()}
            for pid in _zombie_children(me) - ours:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)

    async def _spawn(self, body: dict[str, Any]) -> dict[str, Any]:
        spec = SandboxSpec(**body["spec"])
        sandbox = Sandbox(body["sandbox_id"], spec, self.config.limits)
        package = await self._package(spec.digest)
        try:
            ready = await sandbox.start(package, self._work, self._uid())
        except SandboxFailed as failed:
            self._uids.discard(sandbox.uid)
            return {"error": _error(failed), "logs": failed.logs,
                    "logs_truncated": failed.logs_truncated}
        self._sandboxes[sandbox.id] = sandbox
        return {"init_ms": ready["init_ms"], "logs": ready["logs"],
                "logs_truncated": ready["logs_truncated"], "max_rss_kb": ready["max_rss_kb"],
                "pid": sandbox.pid}

    async def _invoke(self, body: dict[str, Any]) -> dict[str, Any]:
        sandbox = self._sandboxes.get(body["sandbox_id"])
        if sandbox is None or not sandbox.alive:
            return {"gone": True, "error": {"type": "Sandbox.Gone",
                                            "message": "sandbox no longer exists"}}
        try:
            answer = await sandbox.invoke(body["request_id"], body["payload"], body["timeout_s"],
                                          client_context=body.get("client_context"))
        except SandboxFailed as failed:
            self._sandboxes.pop(sandbox.id, None)
            await self._discard(sandbox)
            return {"gone": True, "error": _error(failed), "logs": failed.logs,
                    "logs_truncated": failed.logs_truncated,
                    "duration_ms": failed.duration_ms, "max_rss_kb": failed.max_rss_kb}
        if not sandbox.alive:
            self._sandboxes.pop(sandbox.id, None)
            await self._discard(sandbox)
            answer["gone"] = True
        return answer

    async def _discard(self, sandbox: Sandbox) -> None:
        await sandbox.kill()
        self._uids.discard(sandbox.uid)


def _become_subreaper() -> None:
    import ctypes

    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _zombie_children(parent: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] == "Z" and fields[1] == str(parent):
            found.add(int(entry))
    return found


def _error(failed: SandboxFailed) -> dict[str, Any]:
    return {"type": failed.error.type, "message": failed.error.message,
            "trace": list(failed.error.trace)}


def run_host(config: HostConfig) -> None:
    """Run a worker host in this process until its control plane goes away. Raises
    FunctionsError when the control plane cannot be reached at all, KeyboardInterrupt on
    Ctrl-C."""
    asyncio.run(WorkerHost(config).run())

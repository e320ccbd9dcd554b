"""The worker manager: warm pools, routing, concurrency limits, idle reaping, host liveness.

An invoke goes to a warm idle sandbox of the same function version when there is one (a warm
start); otherwise Placement picks a host, the host spawns a sandbox and runs Init (a cold start).
After the invoke the sandbox goes back to its pool, most recently used first, and is reaped after
``idle_timeout_s`` without work. Hosts are attached by their control channel; a host whose
channel drops or whose heartbeats stop is forgotten with all its sandboxes, and its in-flight
invokes fail with :class:`HostLost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from bazaar.functions._errors import HostLost, NoCapacity, TooManyRequests
from bazaar.functions._model import ErrorInfo, HostInfo, InvocationResult, VersionRef
from bazaar.functions._packages import PackageStore
from bazaar.functions._placement import Placement
from bazaar.functions._wire import (
    MAX_HOST_FRAME,
    MAX_UNREGISTERED_FRAME,
    Peer,
    PeerClosed,
    RemoteFailure,
)


@dataclass
class _Sandbox:
    id: str
    host_id: str
    ref: VersionRef
    last_used: float
    invocations: int = 0


@dataclass
class _Host:
    peer: Peer
    last_seen: float
    pid: int
    #: What the host last said of its isolation levels (``vm``: QEMU, KVM or TCG).
    isolation: dict[str, Any] = field(default_factory=dict)


def _error(data: dict[str, Any]) -> ErrorInfo:
    return ErrorInfo(data.get("type", "Runtime.Unknown"), data.get("message", ""),
                     tuple(data.get("trace", ())))


class WorkerManager:
    """Routes invocations to sandboxes on attached worker hosts."""

    def __init__(self, packages: PackageStore, *, idle_timeout_s: float = 300.0,
                 heartbeat_timeout_s: float = 5.0, max_connections: int = 256,
                 register_timeout_s: float = 10.0, body_timeout_s: float = 30.0) -> None:
        self.packages = packages
        self.max_connections = max_connections
        self.register_timeout_s = register_timeout_s
        self.body_timeout_s = body_timeout_s
        self._connections = 0
        self.idle_timeout_s = idle_timeout_s
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.placement = Placement()
        self._hosts: dict[str, _Host] = {}
        self._sandboxes: dict[str, _Sandbox] = {}
        self._idle: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._tasks: list[asyncio.Task[None]] = []
        self._host_changed = asyncio.Event()
        self.cold_starts = 0
        self.warm_starts = 0

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._reap_idle()),
                       asyncio.create_task(self._watch_heartbeats())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for host in list(self._hosts.values()):
            host.peer.close()

    async def attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one host's control channel until it drops (a ``start_server`` callback).

        Bounded before anything is trusted: at most ``max_connections`` channels, frames of
        at most 64 KiB until the host registers (8 MiB after), registration within
        ``register_timeout_s``, and a frame's body within ``body_timeout_s`` of its header."""
        if self._connections >= self.max_connections:
            writer.close()
            return
        self._connections += 1
        registered: list[str] = []

        async def handle(op: str, body: dict[str, Any]) -> dict[str, Any]:
            if op == "register":
                if registered:
                    raise ValueError("this channel has registered already")
                host_id = str(body["host_id"])
                self.placement.add(host_id, int(body["memory_mb"]), int(body["slots"]))
                self._hosts[host_id] = _Host(peer, time.monotonic(), int(body.get("pid", 0)),
                                             dict(body.get("isolation") or {}))
                registered.append(host_id)
                peer.max_frame = MAX_HOST_FRAME
                self._host_changed.set()
                return {"ok": True}
            if not registered:
                raise ValueError(f"{op!r} before register")
            if op == "package":
                blob = await asyncio.to_thread(self.packages.get, str(body["digest"]))
                return {"blob": blob}
            raise ValueError(f"unknown op {op!r}")

        def notice(op: str, body: dict[str, Any]) -> None:
            host = self._hosts.get(str(body.get("host_id")))
            if op == "heartbeat" and host is not None:
                host.last_seen = time.monotonic()
                if isinstance(body.get("isolation"), dict):
                    host.isolation = body["isolation"]

        peer = Peer(reader, writer, handle, max_frame=MAX_UNREGISTERED_FRAME,
                    body_timeout=self.body_timeout_s)
        peer.on_notice = notice

        async def register_or_close() -> None:
            await asyncio.sleep(self.register_timeout_s)
            if not registered:
                peer.close()
        deadline = asyncio.create_task(register_or_close())
        try:
            await peer.serve()
        finally:
            deadline.cancel()
            self._connections -= 1
            for host_id in registered:
                self._host_lost(host_id)

    async def wait_for_hosts(self, count: int, timeout: float = 30.0) -> None:
        """Wait until at least ``count`` hosts are registered."""
        async def enough() -> None:
            while len(self._hosts) < count:
                self._host_changed.clear()
                await self._host_changed.wait()
        await asyncio.wait_for(enough(), timeout)

    def hosts(self) -> list[dict[str, Any]]:
        by_id = {h.host_id: h for h in self.placement.hosts()}
        return [{"host_id": host_id, "pid": host.pid, **_capacity(by_id.get(host_id)),
                 "sandboxes": sum(1 for s in self._sandboxes.values() if s.host_id == host_id),
                 "isolation": host.isolation}
                for host_id, host in sorted(self._hosts.items())]

    def sandbox_count(self, function: str | None = None) -> int:
        return sum(1 for s in self._sandboxes.values()
                   if function is None or s.ref.spec.name == function)

    def idle_count(self, function: str | None = None) -> int:
        return sum(len(ids) for key, ids in self._idle.items()
                   if function is None or key[0] == function)

    # --- invoke -----------------------------------------------------------------------------
    async def invoke(self, ref: VersionRef, payload: bytes, request_id: str | None = None,
                     client_context: str | None = None) -> InvocationResult:
        """Run one invocation synchronously. A function error is in the result; raises
        TooManyRequests (concurrency limit), NoCapacity, or HostLost. ``client_context`` (JSON
        text) is the handler's ``context.client_context``."""
        name = ref.spec.name
        limit = ref.spec.concurrency
        if limit is not None and self._in_flight[name] >= limit:
            raise TooManyRequests(f"function {name} is at its concurrency limit ({limit})")
        request_id = request_id or str(uuid.uuid4())
        timestamp = time.time()
        self._in_flight[name] += 1
        try:
            sandbox = self._take_idle(ref)
            init: dict[str, Any] | None = None
            if sandbox is None:
                sandbox, started = await self._cold_start(ref)
                if isinstance(started, InvocationResult):
                    return replace(started, request_id=request_id, timestamp=timestamp)
                init = started
            return await self._run(sandbox, init, request_id, payload, timestamp,
                                   client_context)
        finally:
            self._in_flight[name] -= 1

    def _take_idle(self, ref: VersionRef) -> _Sandbox | None:
        idle = self._idle.get(ref.key)
        while idle:
            sandbox = self._sandboxes.get(idle.pop())
            if sandbox is not None:
                self.warm_starts += 1
                return sandbox
        return None

    async def _cold_start(self, ref: VersionRef
                          ) -> tuple[_Sandbox, dict[str, Any] | InvocationResult]:
        spec = ref.spec
        host_id = self.placement.place(spec.memory_mb)
        host = self._hosts.get(host_id)
        sandbox = _Sandbox(uuid.uuid4().hex[:12], host_id, ref, time.monotonic())
        if host is None:
            self.placement.release(host_id, spec.memory_mb)
            raise NoCapacity("the chosen host just went away")
        self.cold_starts += 1
        started = time.perf_counter()
        try:
            reply = await host.peer.call("spawn", {"sandbox_id": sandbox.id, "spec": {
                "function": spec.name, "version": ref.version, "digest": ref.digest,
                "handler": spec.handler, "memory_mb": spec.memory_mb,
                "timeout_s": spec.timeout_s, "init_timeout_s": spec.init_timeout_s,
                "isolation": spec.isolation, "allow_network": spec.allow_network,
                "runtime": spec.runtime, "environment": spec.environment}})
        except (PeerClosed, RemoteFailure) as exc:
            self.placement.release(host_id, spec.memory_mb)
            raise HostLost(f"worker host {host_id} failed during init: {exc}") from exc
        reply["init_total_ms"] = (time.perf_counter() - started) * 1000
        if "error" in reply:
            self.placement.release(host_id, spec.memory_mb)
            return sandbox, InvocationResult(
                "", spec.name, ref.version, None, _error(reply["error"]),
                duration_ms=0.0, init_duration_ms=reply["init_total_ms"],
                logs=reply.get("logs", ""), logs_truncated=reply.get("logs_truncated", False),
                host=host_id)
        self._sandboxes[sandbox.id] = sandbox
        return sandbox, reply

    async def _run(self, sandbox: _Sandbox, init: dict[str, Any] | None, request_id: str,
                   payload: bytes, timestamp: float, client_context: str | None = None,
                   ) -> InvocationResult:
        ref = sandbox.ref
        host = self._hosts.get(sandbox.host_id)
        try:
            if host is None:
                raise PeerClosed("host gone")
            call: dict[str, Any] = {"sandbox_id": sandbox.id, "request_id": request_id,
                                    "payload": payload, "timeout_s": ref.spec.timeout_s}
            if client_context is not None:
                call["client_context"] = client_context
            answer = await host.peer.call("invoke", call)
        except (PeerClosed, RemoteFailure) as exc:
            self._forget(sandbox)
            raise HostLost(f"worker host {sandbox.host_id} was lost during the invoke: "
                           f"{exc}") from exc
        sandbox.invocations += 1
        if answer.get("gone"):
            self._forget(sandbox)
        else:
            sandbox.last_used = time.monotonic()
            self._idle[ref.key].append(sandbox.id)
        logs = answer.get("logs", "")
        truncated = bool(answer.get("logs_truncated"))
        if init is not None:
            logs = init.get("logs", "") + logs
            truncated = truncated or bool(init.get("logs_truncated"))
        body = answer.get("payload")
        return InvocationResult(
            request_id, ref.spec.name, ref.version,
            body.encode() if isinstance(body, str) else None,
            _error(answer["error"]) if "error" in answer else None,
            duration_ms=float(answer.get("duration_ms", 0.0)),
            init_duration_ms=None if init is None else float(init["init_total_ms"]),
            max_memory_mb=float(answer.get("max_rss_kb", 0)) / 1024, logs=logs,
            logs_truncated=truncated, host=sandbox.host_id, timestamp=timestamp)

    # --- forgetting -------------------------------------------------------------------------
    def _forget(self, sandbox: _Sandbox) -> None:
        if self._sandboxes.pop(sandbox.id, None) is not None:
            self.placement.release(sandbox.host_id, sandbox.ref.spec.memory_mb)
        idle = self._idle.get(sandbox.ref.key)
        if idle and sandbox.id in idle:
            idle.remove(sandbox.id)

    def _host_lost(self, host_id: str) -> None:
        self._hosts.pop(host_id, None)
        self.placement.remove(host_id)
        for sandbox in [s for s in self._sandboxes.values() if s.host_id == host_id]:
            self._forget(sandbox)
        self._host_changed.set()

    async def drop_function(self, function: str) -> None:
        """Kill every idle sandbox of ``function`` (it was deleted or its code changed)."""
        for key in [k for k in self._idle if k[0] == function]:
            for sandbox_id in list(self._idle.get(key, ())):
                sandbox = self._sandboxes.get(sandbox_id)
                if sandbox is not None:
                    await self._kill(sandbox)

    async def _kill(self, sandbox: _Sandbox) -> None:
        self._forget(sandbox)
        host = self._hosts.get(sandbox.host_id)
        if host is not None:
            with contextlib.suppress(PeerClosed, RemoteFailure):
                await host.peer.call("kill", {"sandbox_id": sandbox.id}, timeout=10)

    async def _reap_idle(self) -> None:
        while True:
            await asyncio.sleep(max(0.02, min(self.idle_timeout_s / 4, 1.0)))
            now = time.monotonic()
            stale = [self._sandboxes[i] for ids in self._idle.values() for i in ids
                     if i in self._sandboxes
                     and now - self._sandboxes[i].last_used > self.idle_timeout_s]
            for sandbox in stale:
                await self._kill(sandbox)

    async def _watch_heartbeats(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, self.heartbeat_timeout_s / 4))
            now = time.monotonic()
            for host in list(self._hosts.values()):
                if now - host.last_seen > self.heartbeat_timeout_s:
                    host.peer.close()  # its serve() ends and _host_lost runs


def _capacity(info: HostInfo | None) -> dict[str, int]:
    if info is None:
        return {}
    return {"memory_mb": info.memory_mb, "slots": info.slots,
            "used_memory_mb": info.used_memory_mb, "used_slots": info.used_slots}

"""The control plane, composed: package store, registry, worker manager, async path, logs.

:class:`Platform` is what the HTTP frontend calls. It owns no sandbox: worker hosts (separate
processes) attach to its control port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bazaar.functions._async import AsyncInvoker, AsyncPolicy
from bazaar.functions._errors import InvalidRequest, ResourceNotFound
from bazaar.functions._event_sources import EventSourceMapping, EventSourcePoller
from bazaar.functions._logs import InvocationLog
from bazaar.functions._manager import WorkerManager
from bazaar.functions._model import LATEST, DeadLetter, FunctionSpec, InvocationResult
from bazaar.functions._packages import PackageStore, check_package
from bazaar.functions._queue import DurableQueue
from bazaar.functions._registry import FunctionRegistry
from bazaar.processes import private_dir


@dataclass(frozen=True)
class PlatformConfig:
    """Control-plane settings. ``port`` 0 picks a free port. Worker hosts attach over a unix
    socket, ``DATA_DIR/functions/control/control.sock``, in a directory only this user can
    enter: no sandbox can reach it."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8090
    idle_timeout_s: float = 300.0
    heartbeat_timeout_s: float = 5.0
    policy: AsyncPolicy = field(default_factory=AsyncPolicy)
    #: Failed authentications let through per client address before 429 (refilled 1/s).
    failed_auth_burst: int = 30

    @property
    def root(self) -> Path:
        return Path(self.data_dir).resolve() / "functions"

    @property
    def control_path(self) -> Path:
        return self.root / "control" / "control.sock"


def owner_only(path: Path) -> None:
    """Create ``path`` (a directory) if needed and make it 0700: sandbox uids (and any other
    user) can neither list it nor reach anything below it."""
    private_dir(path)


class Platform:
    """The function platform's control plane."""

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        root = config.root
        owner_only(Path(config.data_dir).resolve())  # the shop's secrets live here too
        owner_only(root)
        self.packages = PackageStore(root / "packages")
        self.registry = FunctionRegistry(root / "functions.db")
        self.queue = DurableQueue(root / "queue.db")
        self.logs = InvocationLog(root / "logs")
        self.manager = WorkerManager(self.packages, idle_timeout_s=config.idle_timeout_s,
                                     heartbeat_timeout_s=config.heartbeat_timeout_s)
        self.async_invoker = AsyncInvoker(self.queue, self._invoke_for_poller, config.policy)
        self._control: asyncio.Server | None = None
        self.control_address = str(config.control_path)
        self._sources: dict[str, tuple[EventSourcePoller, asyncio.Task[None]]] = {}

    async def start(self) -> None:
        """Open the control port for worker hosts; start reaper, heartbeat watch, pollers."""
        path = self.config.control_path
        owner_only(path.parent)
        path.unlink(missing_ok=True)  # a socket left by a killed platform
        self._control = await asyncio.start_unix_server(self.manager.attach, path)
        os.chmod(path, 0o600)
        self.manager.start()
        await self.async_invoker.start()
        for mapping in self.registry.sources():
            self._start_source(mapping)

    async def stop(self) -> None:
        for mapping_uuid in list(self._sources):
            await self._stop_source(mapping_uuid)
        await self.async_invoker.stop()
        await self.manager.stop()
        if self._control is not None:
            self._control.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._control.wait_closed(), 2)
            self.config.control_path.unlink(missing_ok=True)
        self.logs.close()
        self.registry.close()
        self.queue.close()

    def write_address_file(self, http_port: int) -> Path:
        """Record where the frontend and control port listen (for workers and the CLI)."""
        path = self.config.root / "server.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"host": self.config.host, "port": http_port,
                                   "control": self.control_address, "pid": os.getpid()}))
        os.replace(tmp, path)
        return path

    # --- functions --------------------------------------------------------------------------
    async def create_function(self, spec: FunctionSpec, blob: bytes) -> dict[str, Any]:
        check_package(blob, spec.handler)
        digest = await asyncio.to_thread(self.packages.put, blob)
        await asyncio.to_thread(self.registry.create, spec, digest)
        return self.registry.describe(spec.name)

    async def update_code(self, name: str, blob: bytes,
                          changes: dict[str, Any] | None = None) -> dict[str, Any]:
        """New code for $LATEST — with new settings in the same step when ``changes`` are
        given (a new handler is checked against the new code, not the old)."""
        spec, _ = self.registry.get(name)
        if changes:
            if "name" in changes and changes["name"] != name:
                raise InvalidRequest("a function cannot be renamed")
            spec = FunctionSpec.from_dict({**spec.to_dict(), **changes})
        check_package(blob, spec.handler)
        digest = await asyncio.to_thread(self.packages.put, blob)
        await asyncio.to_thread(self.registry.update, name, spec=spec, digest=digest)
        await self.manager.drop_function(name)
        return self.registry.describe(name)

    async def update_config(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        spec, digest = self.registry.get(name)
        if "name" in changes and changes["name"] != name:
            raise InvalidRequest("a function cannot be renamed")
        new = FunctionSpec.from_dict({**spec.to_dict(), **changes})
        if new.handler != spec.handler:
            check_package(await asyncio.to_thread(self.packages.get, digest), new.handler)
        await asyncio.to_thread(self.registry.update, name, spec=new)
        await self.manager.drop_function(name)
        return self.registry.describe(name)

    async def delete_function(self, name: str) -> None:
        mappings = self.registry.sources(name)
        await asyncio.to_thread(self.registry.delete, name)
        for mapping in mappings:
            await self._stop_source(mapping.uuid)
        await self.manager.drop_function(name)
        self.logs.forget(name)

    async def publish(self, name: str) -> str:
        ref = await asyncio.to_thread(self.registry.publish, name)
        return ref.version

    # --- invoke -----------------------------------------------------------------------------
    async def invoke(self, name: str, payload: bytes, qualifier: str | None = None,
                     request_id: str | None = None, invocation_type: str = "RequestResponse",
                     client_context: str | None = None) -> InvocationResult:
        """Invoke synchronously; the function's error (if any) is in the result."""
        ref = self.registry.resolve(name, qualifier)
        result = await self.manager.invoke(ref, payload, request_id, client_context)
        self.logs.record(result, invocation_type=invocation_type)
        return result

    async def _invoke_for_poller(self, name: str, qualifier: str, payload: bytes,
                                 request_id: str) -> InvocationResult:
        return await self.invoke(name, payload, qualifier, request_id, "Event")

    async def invoke_async(self, name: str, payload: bytes, qualifier: str | None = None) -> str:
        """Queue an Event invocation durably; return its request id."""
        self.registry.resolve(name, qualifier)  # unknown function or version: 404 now
        return await self.async_invoker.enqueue(name, qualifier or LATEST, payload)

    # --- event source mappings --------------------------------------------------------------
    async def create_event_source(self, data: dict[str, Any]) -> dict[str, Any]:
        """Map a topic to a function: a poller starts consuming at once."""
        mapping = EventSourceMapping.from_dict({k: v for k, v in data.items() if k != "uuid"})
        self.registry.resolve(mapping.function, mapping.qualifier)
        await asyncio.to_thread(self.registry.add_source, mapping)
        self._start_source(mapping)
        return self.describe_event_source(mapping)

    def event_sources(self) -> list[dict[str, Any]]:
        return [self.describe_event_source(m) for m in self.registry.sources()]

    def describe_event_source(self, mapping: EventSourceMapping) -> dict[str, Any]:
        running = self._sources.get(mapping.uuid)
        return {**mapping.to_dict(), **(running[0].stats() if running else {})}

    async def delete_event_source(self, mapping_uuid: str) -> None:
        await asyncio.to_thread(self.registry.delete_source, mapping_uuid)
        await self._stop_source(mapping_uuid)

    def _start_source(self, mapping: EventSourceMapping) -> None:
        poller = EventSourcePoller(mapping, self._invoke_for_source, self._source_dead_letter,
                                   backoff_s=self.config.policy.backoff_s,
                                   throttle_delay_s=self.config.policy.throttle_delay_s)
        self._sources[mapping.uuid] = (poller, asyncio.create_task(poller.run()))

    async def _stop_source(self, mapping_uuid: str) -> None:
        running = self._sources.pop(mapping_uuid, None)
        if running is not None:
            running[1].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running[1]

    async def _invoke_for_source(self, name: str, qualifier: str, payload: bytes,
                                 request_id: str) -> InvocationResult:
        return await self.invoke(name, payload, qualifier, request_id, "EventSource")

    async def _source_dead_letter(self, mapping: EventSourceMapping, payload: bytes,
                                  reason: str, error: dict[str, Any] | None,
                                  attempts: int) -> None:
        await asyncio.to_thread(self.queue.add_dead_letter, f"esm-{mapping.uuid}",
                                mapping.function, mapping.qualifier, payload, attempts,
                                reason, error)

    # --- dead letters -----------------------------------------------------------------------
    async def dead_letters(self, function: str | None = None,
                           limit: int = 100) -> list[DeadLetter]:
        return await asyncio.to_thread(self.queue.dead_letters, function, limit)

    async def redrive(self, ids: list[int] | None = None, function: str | None = None) -> int:
        if ids is None and function is not None:
            self.registry.get(function)
        moved = await asyncio.to_thread(self.queue.redrive, ids, function)
        self.async_invoker.wake()
        return moved

    async def delete_dead_letter(self, letter_id: int) -> None:
        await asyncio.to_thread(self.queue.delete_dead_letter, letter_id)

    def stats(self) -> dict[str, Any]:
        return {"hosts": len(self.manager.hosts()), "sandboxes": self.manager.sandbox_count(),
                "idle_sandboxes": self.manager.idle_count(),
                "cold_starts": self.manager.cold_starts, "warm_starts": self.manager.warm_starts,
                "queue_depth": self.queue.depth(), "async_completed": self.async_invoker.completed,
                "async_failed": self.async_invoker.failed,
                "event_sources": len(self._sources), "time": time.time()}


def read_address_file(data_dir: Path) -> dict[str, Any]:
    """The frontend and control port of the platform serving ``data_dir``."""
    path = Path(data_dir) / "functions" / "server.json"
    try:
        info: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ResourceNotFound(f"no function platform is serving {data_dir} ({path})") from exc
    return info

"""A sandbox as its worker host sees it: one OS process running the function runtime.

``process`` isolation is a bare child process with a mount namespace of its own (a private
/tmp, directories closed to other users hidden); ``namespace`` runs the same runtime under
bubblewrap (own mount, pid, ipc, uts and — unless allowed — network namespaces, read-only root,
private /tmp); ``vm`` runs it in a QEMU microVM (``_vm.py``) over a virtio-serial channel.
In all, the runtime (``_runtime.py``) runs as a sandbox-private uid with no capability
and caps memory (RLIMIT_AS), processes (RLIMIT_NPROC: the kernel does not apply it to root)
and file size; the host caps wall-clock time by killing the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import stat
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bazaar.functions._model import ErrorInfo

_HEADER = struct.Struct(">I")
RUNTIME = Path(__file__).with_name("_runtime.py")
BWRAP = shutil.which("bwrap") or "/usr/bin/bwrap"
#: The variable that carries a function's own environment variables to its runtime.
FUNCTION_ENV = "_BAZAAR_FUNCTION_ENVIRONMENT"


@dataclass(frozen=True)
class SandboxSpec:
    """What a host needs to start one sandbox (sent by the worker manager)."""

    function: str
    version: str
    digest: str
    handler: str
    memory_mb: int
    timeout_s: float
    init_timeout_s: float
    isolation: str = "process"
    allow_network: bool = False
    runtime: str = "bazaar"
    #: The function's own environment variables, set by the runtime after it dropped to the
    #: sandbox's uid (never on the command line, which other users can read).
    environment: dict[str, str] | None = None


@dataclass(frozen=True)
class SandboxLimits:
    """Host-wide limits applied to every sandbox."""

    max_processes: int = 32
    max_file_mb: int = 64
    tmp_mb: int = 64
    log_cap_bytes: int = 64 * 1024


class SandboxFailed(Exception):
    """The sandbox failed to init or died during an invoke; it is gone."""

    def __init__(self, error: ErrorInfo, logs: str = "", logs_truncated: bool = False, *,
                 duration_ms: float = 0.0, max_rss_kb: int = 0) -> None:
        super().__init__(f"{error.type}: {error.message}")
        self.error = error
        self.logs = logs
        self.logs_truncated = logs_truncated
        #: How long the failed invoke ran, and the sandbox's peak memory (VmHWM) so far.
        self.duration_ms = duration_ms
        self.max_rss_kb = max_rss_kb


def _closed_to_others(path: Path) -> list[Path]:
    """Ancestors of ``path`` (and itself) that other users cannot traverse."""
    locked = []
    for parent in [*reversed(path.parents), path]:
        try:
            mode = parent.stat().st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            locked.append(parent)
    return locked


def runtime_paths(runtime: str = "bazaar") -> list[Path]:
    """Files the bootstrap needs: the interpreter, its standard library, the bootstrap (and,
    for ``awslambdaric``, the directory that package and its dependencies are installed in)."""
    paths = [Path(os.path.realpath(sys.executable)), Path(sys.base_prefix).resolve(),
             RUNTIME.resolve()]
    if runtime == "awslambdaric":
        paths.append(ric_path())
    return paths


def ric_path() -> Path:
    """Where ``awslambdaric`` is installed (its site-packages directory). Raises SandboxFailed
    when it is not installed on this host."""
    import importlib.util

    found = importlib.util.find_spec("awslambdaric")
    if found is None or found.origin is None:
        raise SandboxFailed(ErrorInfo(
            "Runtime.Unavailable", "the awslambdaric runtime is not installed on this worker "
            "host: pip install 'bazaar[lambda]'"))
    return Path(found.origin).resolve().parent.parent


def hidden_mounts(visible: list[Path]) -> list[tuple[str, str]]:
    """The mounts that give a sandbox its view: every directory closed to other users on the
    way to a ``visible`` path is covered by a tmpfs (crossable, not listable: 0711) that shows
    only the next step of that path again (read-only), and visible paths under ``/tmp`` (which
    the sandbox replaces) are shown again. ``("tmpfs", dir)`` / ``("bind", path)``, in the
    order they are to be made."""
    ops: dict[str, tuple[int, int, str]] = {}
    for path in visible:
        for locked in _closed_to_others(path.parent if path.is_file() else path):
            rel = path.relative_to(locked)
            child = locked / rel.parts[0] if rel.parts else locked
            ops[f"tmpfs:{locked}"] = (len(locked.parts), 0, str(locked))
            if child != locked:
                ops[f"bind:{child}"] = (len(child.parts), 1, str(child))
    for path in visible:
        if Path("/tmp") in path.parents:  # under the private /tmp: show it again
            ops[f"bind:{path}"] = (len(path.parts), 1, str(path))
    return [(key.partition(":")[0], target)
            for key, (_, _, target) in sorted(ops.items(), key=lambda kv: kv[1])]


def bwrap_args(*, allow_network: bool, visible: list[Path], tmp_mb: int = 64) -> list[str]:
    """bubblewrap arguments: read-only root, a private writable /tmp of ``tmp_mb``, /dev,
    /proc, own namespaces, and :func:`hidden_mounts` for ``visible``."""
    args = [BWRAP, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--perms", "1777", "--size", str(tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    if not allow_network:
        args.append("--unshare-net")
    for kind, target in hidden_mounts(visible):
        if kind == "tmpfs":
            args += ["--perms", "0711", "--tmpfs", target]
        else:
            args += ["--ro-bind", target, target]
    return args


async def _read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    message: dict[str, Any] = json.loads(await reader.readexactly(size))
    return message


class Sandbox:
    """One running bootstrap: ``start`` (Init), then ``invoke`` many times (warm), ``kill``."""

    def __init__(self, sandbox_id: str, spec: SandboxSpec, limits: SandboxLimits) -> None:
        self.id = sandbox_id
        self.spec = spec
        self.limits = limits
        self.uid = 0
        self.alive = False
        self._proc: asyncio.subprocess.Process | None = None
        self._responses: asyncio.StreamReader | None = None
        self._requests: asyncio.StreamWriter | None = None
        self._stray = bytearray()
        self._stray_dropped = 0
        self._drain: asyncio.Task[None] | None = None
        self._work: Path | None = None
        self._vm: Any = None  # a _vm.BootedVm for ``vm`` isolation
        #: The highest peak memory (kB) seen in this sandbox's answers.
        self.max_rss_kb = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def start(self, package: Path, work_root: Path, uid: int) -> dict[str, Any]:
        """Spawn and Init; return the bootstrap's ``ready`` message (init_ms, logs, max_rss_kb).
        Raises SandboxFailed with the init error (the sandbox is then gone)."""
        if self.spec.isolation == "vm":
            return await self._start_vm(package)
        loop = asyncio.get_running_loop()
        visible = runtime_paths(self.spec.runtime)  # before any descriptor is opened
        # The package goes in as an open descriptor: no sandbox needs a path into the host's
        # package cache (where other functions' code lies).
        package_fd = os.open(package, os.O_RDONLY)
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        namespace = self.spec.isolation == "namespace"
        # A root host gives a process sandbox its own mount namespace (private /tmp); a host
        # that is not root cannot, and its sandboxes run as its own user (see the docs).
        private = bool(uid) and not namespace
        if namespace or private:
            work = Path("/tmp/sandbox")
        else:
            work = work_root / self.id
            work.mkdir(parents=True, exist_ok=True)
            self._work = work
        self.uid = uid
        config = {
            "request_fd": req_r, "response_fd": res_w, "package_fd": package_fd,
            "digest": self.spec.digest, "handler": self.spec.handler,
            "function_name": self.spec.function, "function_version": self.spec.version,
            "memory_mb": self.spec.memory_mb, "max_processes": self.limits.max_processes,
            "max_file_mb": self.limits.max_file_mb, "log_cap": self.limits.log_cap_bytes,
            "work_dir": str(work), "uid": uid, "host_pid": 0 if namespace else os.getpid(),
            "mounts": hidden_mounts(visible) if private else None,
            "tmp_mb": self.limits.tmp_mb, "runtime": self.spec.runtime,
            "ric_path": str(visible[3]) if len(visible) > 3 else None, "sandbox_id": self.id,
        }
        # The base interpreter, not a venv's link to it: the venv may live under /tmp, which
        # the namespace sandbox replaces; with -I -S the bootstrap needs only the stdlib.
        command = [str(visible[0]), "-I", "-S", str(RUNTIME), json.dumps(config)]
        if namespace:
            command = [*bwrap_args(allow_network=self.spec.allow_network,
                                   visible=visible,
                                   tmp_mb=self.limits.tmp_mb), *command]
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, pass_fds=(req_r, res_w, package_fd),
                start_new_session=True, env=self._environment())
        finally:
            os.close(req_r)
            os.close(res_w)
            os.close(package_fd)
        self.alive = True
        reader = asyncio.StreamReader(limit=2**26)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                     os.fdopen(res_r, "rb", buffering=0))
        self._responses = reader
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(req_w, "wb", buffering=0))
        self._requests = asyncio.StreamWriter(transport, protocol, None, loop)
        self._drain = asyncio.create_task(self._drain_output())
        return await self._await_ready()

    async def _await_ready(self) -> dict[str, Any]:
        """Read the runtime's answer to Init (``ready``, or its init error)."""
        assert self._responses is not None
        reader = self._responses
        started = time.perf_counter()
        try:
            ready = await asyncio.wait_for(_read_frame(reader), self.spec.init_timeout_s)
        except TimeoutError:
            self._note_peak()
            duration = (time.perf_counter() - started) * 1000
            await self.kill()
            raise SandboxFailed(ErrorInfo(
                "Runtime.InitTimeout",
                f"Init timed out after {self.spec.init_timeout_s:.2f} seconds"),
                *self._stray_logs(), duration_ms=duration, max_rss_kb=self.max_rss_kb) from None
        except (asyncio.IncompleteReadError, ConnectionError):
            raise SandboxFailed(await self._death("during init")) from None
        if ready["type"] == "init_error":
            await self.kill()
            error = ready["error"]
            raise SandboxFailed(ErrorInfo(error["type"], error["message"],
                                          tuple(error["trace"])),
                                ready.get("logs", ""), ready.get("logs_truncated", False))
        self.max_rss_kb = int(ready.get("max_rss_kb", 0))
        return ready

    async def _start_vm(self, package: Path) -> dict[str, Any]:
        """``vm`` isolation: take a booted microVM from the warm pool (or boot one), send it
        the runtime's config and the package over its virtio-serial channel, then Init as
        every sandbox does. See ``_vm.py``."""
        from bazaar.functions import _vm

        if self.spec.runtime != "bazaar":
            raise SandboxFailed(ErrorInfo(
                "Runtime.Unavailable", f"the {self.spec.runtime} runtime does not run in a vm "
                "sandbox yet; use isolation process or namespace"))
        if self.spec.memory_mb < _vm.MIN_MEMORY_MB:
            raise SandboxFailed(ErrorInfo(
                "Sandbox.MemoryTooSmall", f"a vm sandbox needs memory_mb >= "
                f"{_vm.MIN_MEMORY_MB} (its guest kernel lives in it), got {self.spec.memory_mb}"))
        try:
            vm, warm = await _vm.pool().take(self.spec.memory_mb, self.spec.allow_network,
                                             self.limits.tmp_mb)
        except (_vm.VmUnavailable, TimeoutError, ConnectionError, OSError) as exc:
            raise SandboxFailed(ErrorInfo(
                "Sandbox.VmBootFailed", f"the microVM did not boot: {type(exc).__name__}: "
                f"{exc}")) from None
        self._vm = vm
        self._proc, self._responses, self._requests = vm.proc, vm.reader, vm.writer
        self.alive = True
        self._drain = asyncio.create_task(self._drain_output())
        blob = await asyncio.to_thread(package.read_bytes)
        config = {
            "package_size": len(blob), "digest": self.spec.digest, "handler": self.spec.handler,
            "function_name": self.spec.function, "function_version": self.spec.version,
            "memory_mb": self.spec.memory_mb, "max_processes": self.limits.max_processes,
            "max_file_mb": self.limits.max_file_mb, "log_cap": self.limits.log_cap_bytes,
            "uid": _vm.SANDBOX_UID, "tmp_mb": self.limits.tmp_mb, "runtime": self.spec.runtime,
            "ric_path": None, "sandbox_id": self.id, "environment": self.spec.environment or {},
        }
        body = json.dumps(config).encode()
        self._requests.write(_HEADER.pack(len(body)) + body + blob)
        ready = await self._await_ready()
        ready.update({"accel": vm.accel, "boot_ms": vm.boot_ms, "warm_vm": warm,
                      "guest_uptime_s": vm.guest_uptime_s, "guest_kernel_s": vm.kernel_s})
        return ready

    def _environment(self) -> dict[str, str]:
        """A fresh environment: the host's own (its settings, its secrets) is not inherited.
        The function's variables ride in one of it (``/proc/PID/environ`` is readable by the
        process's own user only, unlike its command line) for the runtime to set after Init
        dropped privileges."""
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
               "BAZAAR_FUNCTION_NAME": self.spec.function,
               "BAZAAR_FUNCTION_VERSION": self.spec.version,
               "BAZAAR_FUNCTION_MEMORY_MB": str(self.spec.memory_mb)}
        if self.spec.environment:
            env[FUNCTION_ENV] = json.dumps(self.spec.environment)
        return env

    async def invoke(self, request_id: str, payload: bytes, timeout_s: float, *,
                     client_context: str | None = None,
                     cognito_identity: str | None = None) -> dict[str, Any]:
        """Send one event; return the bootstrap's answer (payload or error, logs, memory).
        ``client_context`` / ``cognito_identity`` (JSON text) reach the handler's context as
        Lambda's do. Raises SandboxFailed on timeout or when the runtime dies (the sandbox is
        then gone)."""
        assert self._requests is not None and self._responses is not None
        self._stray.clear()
        self._stray_dropped = 0
        request: dict[str, Any] = {"id": request_id, "payload": payload.decode("utf-8", "replace"),
                                   "timeout_ms": int(timeout_s * 1000)}
        if client_context is not None:
            request["client_context"] = client_context
        if cognito_identity is not None:
            request["cognito_identity"] = cognito_identity
        body = json.dumps(request).encode()
        started = time.perf_counter()
        try:
            self._requests.write(_HEADER.pack(len(body)) + body)
            async with asyncio.timeout(timeout_s):  # no extra task, unlike wait_for
                answer = await _read_frame(self._responses)
        except TimeoutError:
            self._note_peak()  # read before the kill: a dead process has no VmHWM
            duration = (time.perf_counter() - started) * 1000
            await self.kill()
            raise SandboxFailed(ErrorInfo("Sandbox.Timedout",
                                          f"Task timed out after {timeout_s:.2f} seconds"),
                                *self._stray_logs(), duration_ms=duration,
                                max_rss_kb=self.max_rss_kb) from None
        except (asyncio.IncompleteReadError, ConnectionError, BrokenPipeError):
            duration = (time.perf_counter() - started) * 1000
            error = await self._death("during invoke")
            raise SandboxFailed(error, *self._stray_logs(), duration_ms=duration,
                                max_rss_kb=self.max_rss_kb) from None
        self.max_rss_kb = max(self.max_rss_kb, int(answer.get("max_rss_kb", 0)))
        logs, truncated = self._stray_logs()
        answer["logs"] = answer.get("logs", "") + logs
        answer["logs_truncated"] = answer.get("logs_truncated", False) or truncated
        if answer.get("recycle"):
            await self.kill()
        return answer

    def _note_peak(self) -> None:
        """Update :attr:`max_rss_kb` from the live process's VmHWM (its peak so far)."""
        if self._proc is None:
            return
        with (contextlib.suppress(OSError, ValueError, IndexError),
              open(f"/proc/{self._proc.pid}/status") as f):
            for line in f:
                if line.startswith("VmHWM:"):
                    self.max_rss_kb = max(self.max_rss_kb, int(line.split()[1]))
                    return

    def _stray_logs(self) -> tuple[str, bool]:
        """Output written straight to fd 1/2 (not through sys.stdout) since the invoke began."""
        return self._stray.decode("utf-8", "replace"), self._stray_dropped > 0

    async def _drain_output(self) -> None:
        # Always read the output pipe so a handler printing megabytes never blocks on it.
        assert self._proc is not None and self._proc.stdout is not None
        cap = self.limits.log_cap_bytes
        while chunk := await self._proc.stdout.read(65536):
            room = cap - len(self._stray)
            if room > 0:
                self._stray += chunk[:room]
            self._stray_dropped += max(0, len(chunk) - max(room, 0))

    async def _death(self, when: str) -> ErrorInfo:
        assert self._proc is not None
        try:
            code = await asyncio.wait_for(self._proc.wait(), 2.0)
        except TimeoutError:
            code = None
        await self.kill()
        if code is None:
            status = "closed its pipe"
        elif code < 0:
            status = f"signal: {signal.Signals(-code).name}"
        else:
            status = f"exit status {code}"
        return ErrorInfo("Runtime.ExitError", f"Runtime exited {when} with error: {status}")

    async def kill(self) -> None:
        """Kill the sandbox, every process it forked, and remove its files. Idempotent."""
        self.alive = False
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self.uid:
            kill_uid(self.uid)
        if proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5.0)
        if self._requests is not None:
            self._requests.close()
        if self._drain is not None:
            self._drain.cancel()
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None
        if self._vm is not None:
            self._vm.kill()
            self._vm = None


def kill_uid(uid: int) -> int:
    """SIGKILL every process owned by ``uid`` (a sandbox-private uid); return how many.
    Children that escaped the process group with setsid are found this way."""
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                owner = next((line.split()[1] for line in f if line.startswith("Uid:")), "")
            if owner == str(uid):
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return killed

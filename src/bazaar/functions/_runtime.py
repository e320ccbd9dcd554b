"""The function runtime: the program a sandbox runs (Lambda's "runtime bootstrap").
Standard library only.

Started as ``python -I -S _runtime.py CONFIG_JSON`` by a worker host, with two inherited
pipe descriptors (requests in, responses out). **Init**: read the package and verify its
SHA-256 (as the host's user), give a ``process`` sandbox its own view of the filesystem
(private ``/tmp``, closed directories hidden), unpack the package, apply the resource limits,
drop to a sandbox-private uid with no capability, import the handler.
**Invoke**: read one framed request at a time, call ``handler(event, context)``, answer with the
result or the error, and the captured (capped) logs. The process is reused: a warm start.

Frames are a 4-byte big-endian length and a UTF-8 JSON object. Nothing here imports bazaar:
the sandbox must start in a few milliseconds and must work inside bubblewrap.
"""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import sys
import time
import traceback
from typing import Any

_HEADER = struct.Struct(">I")
MAX_RESPONSE = 6 * 1024 * 1024  # Lambda's synchronous response limit


class _CappedLog(io.TextIOBase):
    """A stdout/stderr stand-in that keeps the first ``cap`` characters and drops the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        room = self.cap - self.size
        if room > 0:
            part = s[:room]
            self.parts.append(part)
            self.size += len(part)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def take(self) -> tuple[str, bool]:
        text, truncated = "".join(self.parts), self.dropped > 0
        self.parts, self.size, self.dropped = [], 0, 0
        return text, truncated


class _Context:
    """What a handler gets as ``context``, shaped like Lambda's."""

    def __init__(self, config: dict[str, Any], request_id: str, deadline: float) -> None:
        self.function_name = config["function_name"]
        self.function_version = config["function_version"]
        self.memory_limit_in_mb = config["memory_mb"]
        self.aws_request_id = self.request_id = request_id
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view):]


def _error(exc: BaseException, kind: str | None = None) -> dict[str, Any]:
    return {
        "type": kind or type(exc).__name__,
        "message": str(exc),
        "trace": traceback.format_exception(type(exc), exc, _own_frames(exc.__traceback__))[-20:],
    }


def _own_frames(tb: Any) -> Any:
    """Skip the bootstrap's frames: a trace shows the handler's code only."""
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, what: str) -> None:
    if result != 0:
        import ctypes

        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    import ctypes

    _check(_c().mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                      ctypes.c_ulong(flags), data and data.encode()), f"mount {target}")


_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC = 1, 2, 4, 32, 4096, 16384
_MS_PRIVATE = 1 << 18
_CLONE_NEWNS = 0x00020000


def _private_view(config: dict[str, Any]) -> None:
    """``process`` isolation on a root host: a mount namespace of its own, so the sandbox gets
    a private writable ``/tmp`` (a tmpfs of ``tmp_mb``) and every directory closed to other
    users (``/root``…) is replaced by a tmpfs that other users may cross but not list (0711),
    showing only the interpreter. Same network and pid space as the host: a bare process."""
    _check(_c().unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing we mount leaks to the host
    binds = {path: os.open(path, os.O_PATH | os.O_CLOEXEC)
             for kind, path in config["mounts"] if kind == "bind"}
    is_dir = {path: os.path.isdir(path) for path in binds}
    _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV,
           f"size={config['tmp_mb'] * 1024 * 1024},mode=1777")
    for kind, path in config["mounts"]:
        if kind == "tmpfs":
            _mount("tmpfs", path, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0711")
            continue
        if is_dir[path]:
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(f"/proc/self/fd/{binds[path]}", path, None, _MS_BIND | _MS_REC)
        _mount(None, path, None,
               _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    for fd in binds.values():
        os.close(fd)


def _confine(config: dict[str, Any], work: str) -> None:
    """Resource limits, then (when started as root) a private uid so RLIMIT_NPROC applies.
    No capability survives the uid change, and no setuid program can give one back."""
    mem = config["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    fsize = config["max_file_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    nproc = config["max_processes"]
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    _check(_c().prctl(38, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    uid = config["uid"]
    if uid and os.geteuid() == 0:
        os.chown(work, uid, uid)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)  # clears every capability: KEEPCAPS is never set
    _die_with_host(config["host_pid"])


def _die_with_host(host_pid: int) -> None:
    """SIGKILL this sandbox when its worker host dies (set after the uid change, which
    clears it), so a kill -9 of a host leaves no orphaned sandboxes behind."""
    _c().prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    if host_pid and os.getppid() != host_pid:
        os._exit(1)


def _init(config: dict[str, Any]) -> Any:
    import hashlib
    import importlib
    import zipfile

    with os.fdopen(config["package_fd"], "rb") as f:
        blob = f.read()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != config["digest"]:
        raise RuntimeError(f"package hash mismatch: want {config['digest']}, got {digest}")
    if config.get("mounts") is not None:
        _private_view(config)
    work = os.path.abspath(config["work_dir"])
    code = os.path.join(work, "code")
    tmp = os.path.join(work, "tmp")
    os.makedirs(tmp, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        archive.extractall(code)
    _confine(config, tmp)
    os.environ["TMPDIR"] = tmp
    os.chdir(code)
    sys.path.insert(0, code)
    module_name, _, attr = config["handler"].rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise _InitError("Runtime.ImportModuleError", f"Unable to import module "
                         f"{module_name!r}: {exc}") from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise _InitError("Runtime.HandlerNotFound",
                         f"Handler {attr!r} missing on module {module_name!r}")
    return handler


class _InitError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _max_rss_kb() -> int:
    # VmHWM is this address space's peak: ru_maxrss would carry the worker host's RSS over
    # from before exec.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    config = json.loads(sys.argv[1])
    req_fd, res_fd = config["request_fd"], config["response_fd"]
    me = os.getpid()
    real_out, real_err = sys.stdout, sys.stderr
    log = _CappedLog(config["log_cap"])
    sys.stdout = sys.stderr = log
    started = time.perf_counter()
    try:
        handler = _init(config)
    except BaseException as exc:  # report every init failure, then exit
        if os.getpid() != me:
            os._exit(1)
        kind = exc.kind if isinstance(exc, _InitError) else (
            "Runtime.OutOfMemory" if isinstance(exc, MemoryError) else "Runtime.InitError")
        text, truncated = log.take()
        _send(res_fd, {"type": "init_error", "error": _error(exc, kind), "logs": text,
                       "logs_truncated": truncated})
        os._exit(1)
    text, truncated = log.take()
    _send(res_fd, {"type": "ready", "init_ms": (time.perf_counter() - started) * 1000,
                   "logs": text, "logs_truncated": truncated, "max_rss_kb": _max_rss_kb()})
    while True:
        try:
            (size,) = _HEADER.unpack(_read_exact(req_fd, _HEADER.size))
            request = json.loads(_read_exact(req_fd, size))
        except EOFError:
            sys.stdout, sys.stderr = real_out, real_err
            return
        t0 = time.perf_counter()
        deadline = time.monotonic() + request["timeout_ms"] / 1000
        answer: dict[str, Any] = {"type": "result", "id": request["id"]}
        recycle = False
        try:
            event = json.loads(request["payload"])
            result = handler(event, _Context(config, request["id"], deadline))
            try:
                answer["payload"] = json.dumps(result)
            except (TypeError, ValueError) as exc:
                answer["error"] = _error(exc, "Runtime.MarshalError")
            if len(answer.get("payload", "")) > MAX_RESPONSE:
                del answer["payload"]
                answer["error"] = _error(ValueError(
                    f"the response is larger than {MAX_RESPONSE} bytes"),
                    "Runtime.ResponseSizeTooLarge")
        except MemoryError as exc:
            traceback.clear_frames(exc.__traceback__)  # free what the handler held first
            answer["error"] = _error(exc, "Runtime.OutOfMemory")
            recycle = True
        except BaseException as exc:
            if os.getpid() != me:  # a forked child of the handler never answers
                os._exit(1)
            if isinstance(exc, SystemExit):
                answer["error"] = _error(exc, "Runtime.ExitError")
                recycle = True
            else:
                answer["error"] = _error(exc)
        if os.getpid() != me:
            os._exit(0)
        answer["duration_ms"] = (time.perf_counter() - t0) * 1000
        answer["logs"], answer["logs_truncated"] = log.take()
        answer["max_rss_kb"] = _max_rss_kb()
        answer["recycle"] = recycle
        _send(res_fd, answer)
        if recycle:
            os._exit(1)


if __name__ == "__main__":
    main()

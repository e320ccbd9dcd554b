"""The runtime bootstrap: the program a sandbox runs. Standard library only.

Started as ``python -I -S _bootstrap.py CONFIG_JSON`` by a worker host, with two inherited
pipe descriptors (requests in, responses out). **Init**: apply the resource limits, drop to a
sandbox-private uid, read the package, verify its SHA-256, unpack it, import the handler.
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
CAP_DAC_READ_SEARCH = 2
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


def _keep_read_search() -> None:
    """Keep only CAP_DAC_READ_SEARCH after the uid change, so the interpreter's own files stay
    readable when they sit under a directory closed to other users (e.g. ``/root/.pyenv``)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)
    data = (Data * 2)()
    bit = 1 << CAP_DAC_READ_SEARCH
    data[0].effective = data[0].permitted = bit
    if libc.capset(ctypes.byref(header), ctypes.byref(data)) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _confine(config: dict[str, Any], work: str) -> None:
    """Resource limits, then (when started as root) a private uid so RLIMIT_NPROC applies."""
    mem = config["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    fsize = config["max_file_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    nproc = config["max_processes"]
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    uid = config["uid"]
    if uid and os.geteuid() == 0:
        os.chown(work, uid, uid)
        keep = config["keep_read_search"]
        if keep:
            import ctypes

            ctypes.CDLL(None).prctl(8, 1, 0, 0, 0)  # PR_SET_KEEPCAPS
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        if keep:
            _keep_read_search()
    _die_with_host(config["host_pid"])


def _die_with_host(host_pid: int) -> None:
    """SIGKILL this sandbox when its worker host dies (set after the uid change, which
    clears it), so a kill -9 of a host leaves no orphaned sandboxes behind."""
    import ctypes

    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    if host_pid and os.getppid() != host_pid:
        os._exit(1)


def _init(config: dict[str, Any]) -> Any:
    import hashlib
    import importlib
    import zipfile

    with open(config["package"], "rb") as f:
        blob = f.read()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != config["digest"]:
        raise RuntimeError(f"package hash mismatch: want {config['digest']}, got {digest}")
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

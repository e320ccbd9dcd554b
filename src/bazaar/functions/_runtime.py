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

import contextlib
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


class _Client:
    """``context.client_context.client``: the mobile client's app, as Lambda's."""

    FIELDS = ("installation_id", "app_title", "app_version_name", "app_version_code",
              "app_package_name")

    def __init__(self, data: dict[str, Any]) -> None:
        for key in self.FIELDS:
            setattr(self, key, data.get(key))


class _ClientContext:
    """``context.client_context``: what the caller sent in ``X-Amz-Client-Context``."""

    def __init__(self, data: dict[str, Any]) -> None:
        client = data.get("client")
        self.client = _Client(client) if isinstance(client, dict) else None
        self.custom = data.get("custom")
        self.env = data.get("env")


def _client_context(text: str | None) -> _ClientContext | None:
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return _ClientContext(data) if isinstance(data, dict) else None


class _Context:
    """What a handler gets as ``context``, shaped like Lambda's."""

    def __init__(self, config: dict[str, Any], request_id: str, deadline: float,
                 client_context: str | None = None) -> None:
        self.client_context = _client_context(client_context)
        self.identity = None
        self.function_name = config["function_name"]
        self.function_version = config["function_version"]
        self.memory_limit_in_mb = config["memory_mb"]
        self.aws_request_id = self.request_id = request_id
        self.invoked_function_arn = _function_arn(config)
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"bazaar/{config.get('sandbox_id', 'local')}"
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
    os.environ.update(lambda_environment(config, code))
    os.environ.update(config["environment"])  # the function's own (none reserved), unprivileged
    os.chdir(code)
    if config.get("runtime") == "awslambdaric":
        return None  # the handler is awslambdaric's to import
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


# --- The AWS Lambda Runtime API, for the unmodified ``awslambdaric`` bootstrap -------------
#
# With ``runtime: awslambdaric`` this process does Init as above up to the handler import,
# then serves the Runtime API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html)
# on a loopback port of the sandbox and starts ``python -m awslambdaric HANDLER`` with
# ``AWS_LAMBDA_RUNTIME_API`` pointing at it. Init ends at the runtime's first
# ``/invocation/next`` (or its ``/init/error``); each request from the host is then handed to
# the waiting ``next`` and answered with what the runtime posts to ``/response`` or ``/error``.

_API = "/2018-06-01/runtime"
#: A request's head and body must arrive within this many seconds (the long poll is not a read).
_API_READ_TIMEOUT_S = 30.0
#: Bodies over this are refused unread; up to this much is read and dropped so the client sees
#: the 413 instead of a reset connection.
_DISCARD_LIMIT = 64 * 1024 * 1024
REGION, ACCOUNT = "local", "000000000000"
_RIC_BOOT = ("import sys; sys.path[:0] = [sys.argv.pop(1), sys.argv.pop(1)]; "
             "from awslambdaric.__main__ import main; main(sys.argv)")


def _function_arn(config: dict[str, Any]) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{config['function_name']}"
    version = config["function_version"]
    return arn if version == "$LATEST" else f"{arn}:{version}"


def lambda_environment(config: dict[str, Any], code: str) -> dict[str, str]:
    """The variables Lambda sets for a function (both bootstraps see them)."""
    name = config["function_name"]
    return {"AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": config["function_version"],
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config["memory_mb"]),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"bazaar/{config.get('sandbox_id', 'local')}",
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "_HANDLER": config["handler"],
            "LAMBDA_TASK_ROOT": code, "TZ": ":UTC"}


class _Bridge:
    """What the HTTP threads and the main loop share."""

    def __init__(self, config: dict[str, Any]) -> None:
        import queue
        import threading

        self.config = config
        self.events: queue.Queue[tuple[Any, ...]] = queue.Queue()  # to the main loop
        self.invocations: queue.Queue[dict[str, Any]] = queue.Queue()  # to /next
        self.lock = threading.Lock()
        self.current: str | None = None  # the request id awaiting its answer

    def settle(self, request_id: str) -> bool:
        """Claim the current invocation's one answer; False when ``request_id`` is not it."""
        with self.lock:
            if request_id != self.current:
                return False
            self.current = None
            return True


def _api_handler(bridge: _Bridge) -> type:
    import http.server
    import socket

    class Api(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = _API_READ_TIMEOUT_S
        server_version = "bazaar-runtime-api"
        sys_version = ""
        default_request_version = "HTTP/1.1"  # garbage still gets a status line back

        def setup(self) -> None:
            super().setup()
            # Head and body leave in two writes: without this, Nagle's algorithm holds the
            # body for the client's delayed ACK (~40 ms per call, measured: 90 ms per invoke).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def handle(self) -> None:
            # A process sandbox shares the host's loopback: only this sandbox's uid may take
            # its events or answer them (another sandbox's connection is closed unanswered).
            ours = int(self.connection.getsockname()[1])
            if _peer_uid(int(self.client_address[1]), ours) == os.getuid():
                super().handle()

        def send_error(self, code: int, message: str | None = None,
                       explain: str | None = None) -> None:
            # http.server's own refusals (bad request line, headers too long…) in JSON.
            self._reply(code, {"errorMessage": message or "bad request",
                               "errorType": "InvalidRequest"}, close=True)

        def log_message(self, format: str, *args: Any) -> None:
            return  # the function's log is the handler's output, not this server's

        def _reply(self, code: int, body: dict[str, Any], close: bool = False) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def _declared(self) -> int | None:
            """The declared body size; None (after a 400) when it is not a number."""
            raw = self.headers.get("Content-Length")
            if raw is None:
                self._reply(411, {"errorMessage": "a body needs a Content-Length",
                                  "errorType": "InvalidRequest"}, close=True)
                return None
            if not raw.isdigit() or len(raw) > 18:
                self._reply(400, {"errorMessage": f"bad Content-Length {raw[:40]!r}",
                                  "errorType": "InvalidRequest"}, close=True)
                return None
            return int(raw)

        def handle_expect_100(self) -> bool:
            # Refuse an oversized body before the client sends it.
            size = self.headers.get("Content-Length", "0")
            if size.isdigit() and int(size) > MAX_RESPONSE:
                self._too_large(int(size), discard=False)
                return False
            return bool(super().handle_expect_100())

        def _too_large(self, size: int, *, discard: bool) -> None:
            self._reply(413, {"errorMessage": f"Exceeded maximum allowed payload size "
                                              f"({MAX_RESPONSE} bytes).",
                              "errorType": "RequestEntityTooLarge"}, close=True)
            if discard and size <= _DISCARD_LIMIT:  # read and drop, never kept
                left = size
                with contextlib.suppress(OSError):
                    while left > 0 and (chunk := self.rfile.read(min(left, 65536))):
                        left -= len(chunk)

        def _refuse(self, code: int, message: str, kind: str) -> None:
            """Answer ``code`` and close, reading and dropping a declared body first (up to
            a bound) so the client reads the answer rather than a reset."""
            size = self.headers.get("Content-Length", "0")
            left = int(size) if size.isdigit() and int(size) <= _DISCARD_LIMIT else 0
            with contextlib.suppress(OSError):
                while left > 0 and (chunk := self.rfile.read(min(left, 65536))):
                    left -= len(chunk)
            self._reply(code, {"errorMessage": message, "errorType": kind}, close=True)

        def _body(self) -> bytes | None:
            """The body, at most MAX_RESPONSE bytes; None once it has been refused (and
            ``self.oversized`` says whether for its size)."""
            self.oversized = False
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._chunked()
            size = self._declared()
            if size is None:
                return None
            if size > MAX_RESPONSE:
                self.oversized = True
                self._too_large(size, discard=True)
                return None
            data: bytes = self.rfile.read(size)
            return data

        def _chunked(self) -> bytes | None:
            parts: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(64)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    self._reply(400, {"errorMessage": "bad chunked encoding",
                                      "errorType": "InvalidRequest"}, close=True)
                    return None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > MAX_RESPONSE:
                    self.oversized = True
                    self._too_large(0, discard=False)
                    return None
                parts.append(self.rfile.read(size))
                self.rfile.readline(8)

        def do_GET(self) -> None:
            if self.path != f"{_API}/invocation/next":
                self._reply(404, {"errorMessage": f"no such resource {self.path[:200]!r}",
                                  "errorType": "InvalidRequest"}, close=True)
                return
            bridge.events.put(("next",))
            request = bridge.invocations.get()  # the long poll: until the host sends an event
            data = request["payload"].encode()
            self.send_response(200)
            headers = {
                "Content-Type": "application/json", "Content-Length": str(len(data)),
                "Lambda-Runtime-Aws-Request-Id": request["id"],
                "Lambda-Runtime-Deadline-Ms": str(request["deadline_ms"]),
                "Lambda-Runtime-Invoked-Function-Arn": _function_arn(bridge.config),
                "Lambda-Runtime-Trace-Id": request["trace_id"],
            }
            if "client_context" in request:
                headers["Lambda-Runtime-Client-Context"] = request["client_context"]
            if "cognito_identity" in request:
                headers["Lambda-Runtime-Cognito-Identity"] = request["cognito_identity"]
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            path = self.path
            if path == f"{_API}/init/error":
                body = self._body()
                if body is not None:
                    bridge.events.put(("init_error", self._error_of(body)))
                    self._reply(202, {"status": "OK"})
                return
            prefix = f"{_API}/invocation/"
            request_id, _, action = path[len(prefix):].partition("/")
            if not path.startswith(prefix) or action not in ("response", "error"):
                self._refuse(404, f"no such resource {path[:200]!r}", "InvalidRequest")
                return
            if request_id != bridge.current:
                self._refuse(400, f"Invalid request ID {request_id[:64]!r}", "InvalidRequestID")
                return
            body = self._body()
            if body is None:
                if self.oversized and bridge.settle(request_id):
                    bridge.events.put(("error", request_id, {
                        "type": "Function.ResponseSizeTooLarge",
                        "message": f"Response payload size exceeded maximum allowed payload "
                                   f"size ({MAX_RESPONSE} bytes).", "trace": []}))
                return
            if not bridge.settle(request_id):
                self._reply(400, {"errorMessage": f"Invalid request ID {request_id[:64]!r}",
                                  "errorType": "InvalidRequestID"}, close=True)
                return
            if action == "response":
                bridge.events.put(("response", request_id, body))
            else:
                bridge.events.put(("error", request_id, self._error_of(body)))
            self._reply(202, {"status": "OK"})

        def _error_of(self, body: bytes) -> dict[str, Any]:
            """Lambda's error document ({errorMessage, errorType, stackTrace}) as ours."""
            kind = self.headers.get("Lambda-Runtime-Function-Error-Type") or "Runtime.Unknown"
            try:
                doc = json.loads(body)
            except ValueError:
                doc = None
            if not isinstance(doc, dict):
                return {"type": kind, "message": body[:4096].decode("utf-8", "replace"),
                        "trace": []}
            trace = doc.get("stackTrace")
            return {"type": str(doc.get("errorType") or kind),
                    "message": str(doc.get("errorMessage", "")),
                    "trace": [str(line) for line in trace][:100]
                    if isinstance(trace, list) else []}

    return Api


def _peer_uid(peer_port: int, our_port: int) -> int | None:
    """The uid owning the loopback socket ``127.0.0.1:peer_port`` connected to ``our_port``
    (from /proc/net/tcp, the network namespace this sandbox sees); None when not found."""
    local, remote = f"0100007F:{peer_port:04X}", f"0100007F:{our_port:04X}"
    with contextlib.suppress(OSError), open("/proc/net/tcp") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 7 and fields[1] == local and fields[2] == remote:
                return int(fields[7])
    return None


def _peak_kb(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _trace_id() -> str:
    return (f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};"
            f"Parent={os.urandom(8).hex()};Sampled=0")


def _run_ric(config: dict[str, Any], code: str, req_fd: int, res_fd: int,
             log: _CappedLog, started: float) -> None:
    """Serve the Runtime API to ``awslambdaric`` and bridge it to the host's pipes."""
    import http.server
    import subprocess
    import threading

    # This process lives under the function's RLIMIT_AS too: small thread stacks and one malloc
    # arena (glibc reserves 64 MiB of address space per thread's arena otherwise).
    threading.stack_size(256 * 1024)
    _c().mallopt(-8, 1)  # M_ARENA_MAX
    bridge = _Bridge(config)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _api_handler(bridge))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
           "LAMBDA_RUNTIME_DIR": config["ric_path"]}
    child = subprocess.Popen([sys.executable, "-I", "-S", "-c", _RIC_BOOT, code,
                              config["ric_path"], config["handler"]],
                             cwd=code, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert child.stdout is not None
    out_fd = child.stdout.fileno()
    os.set_blocking(out_fd, False)
    out_lock = threading.Lock()

    def pump() -> bool:
        """Move what the runtime has written so far into the log; False at its end."""
        with out_lock:
            while True:
                try:
                    chunk = os.read(out_fd, 65536)
                except BlockingIOError:
                    return True
                except OSError:
                    return False
                if not chunk:
                    return False
                log.write(chunk.decode("utf-8", "replace"))

    def drain() -> None:
        import select

        while True:
            select.select([out_fd], [], [])
            if not pump():
                return
    threading.Thread(target=drain, daemon=True).start()

    def watch() -> None:
        bridge.events.put(("exit", child.wait()))
    threading.Thread(target=watch, daemon=True).start()

    def exited(status: int) -> dict[str, Any]:
        how = f"signal: {-status}" if status < 0 else f"exit status {status}"
        return {"type": "Runtime.ExitError", "message": f"Runtime exited with error: {how}",
                "trace": []}

    while True:  # Init: until the first /next, an /init/error or the runtime's exit
        event = bridge.events.get()
        if event[0] == "next":
            break
        if event[0] in ("init_error", "exit"):
            error = event[1] if event[0] == "init_error" else exited(event[1])
            pump()
            text, truncated = log.take()
            _send(res_fd, {"type": "init_error", "error": error, "logs": text,
                           "logs_truncated": truncated})
            child.kill()
            os._exit(1)
    pump()
    with out_lock:
        text, truncated = log.take()
    _send(res_fd, {"type": "ready", "init_ms": (time.perf_counter() - started) * 1000,
                   "logs": text, "logs_truncated": truncated,
                   "max_rss_kb": max(_max_rss_kb(), _peak_kb(child.pid))})
    while True:
        try:
            (size,) = _HEADER.unpack(_read_exact(req_fd, _HEADER.size))
            request = json.loads(_read_exact(req_fd, size))
        except EOFError:
            child.kill()
            return
        t0 = time.perf_counter()
        request["deadline_ms"] = int(time.time() * 1000) + request["timeout_ms"]
        request["trace_id"] = _trace_id()
        with bridge.lock:
            bridge.current = request["id"]
        bridge.invocations.put(request)
        answer: dict[str, Any] = {"type": "result", "id": request["id"]}
        recycle = False
        while True:
            event = bridge.events.get()
            if event[0] == "exit":
                answer["error"], recycle = exited(event[1]), True
                break
            if event[0] in ("response", "error") and event[1] == request["id"]:
                if event[0] == "response":
                    answer["payload"] = event[2].decode("utf-8", "replace")
                else:
                    answer["error"] = event[2]
                break
        answer["duration_ms"] = (time.perf_counter() - t0) * 1000
        pump()  # what the handler wrote before answering is in the pipe by now
        with out_lock:
            answer["logs"], answer["logs_truncated"] = log.take()
        answer["max_rss_kb"] = max(_max_rss_kb(), _peak_kb(child.pid))
        answer["recycle"] = recycle
        _send(res_fd, answer)
        if recycle:
            os._exit(1)


def main() -> None:
    config = json.loads(sys.argv[1])
    if config.get("environment") is None:  # not on the command line: see _sandbox.py
        config["environment"] = json.loads(os.environ.pop("_BAZAAR_FUNCTION_ENVIRONMENT",
                                                          "{}"))
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
    if handler is None:
        _run_ric(config, os.getcwd(), req_fd, res_fd, log, started)
        sys.stdout, sys.stderr = real_out, real_err
        return
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
            result = handler(event, _Context(config, request["id"], deadline,
                                             request.get("client_context")))
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

"""The guest side of a ``vm`` sandbox: PID 1 of the microVM once its root is mounted.
Standard library only (it runs on the guest's copy of the host's Python).

The initramfs's shell script loads the virtio modules, mounts the read-only root disk, a
private ``/tmp`` and ``/proc``, and execs this with the virtio-serial port's device path. This
announces ``booted`` on the port (a VM in the warm pool waits here), reads one Init frame
(the runtime's config) followed by the package bytes, writes the package to the guest's
``/tmp``, and execs the same runtime bootstrap every sandbox runs (``_runtime.py``), its
requests and responses on the port: the host then speaks the one Init/Invoke protocol.
When the runtime exits, PID 1 exits and the guest kernel panics; QEMU (``-no-reboot``,
``panic=-1``) then ends: a VM serves one sandbox and is never reused.
"""

from __future__ import annotations

import json
import os
import struct
import sys

_HEADER = struct.Struct(">I")
#: The largest Init frame (the config; the package follows it raw, its size in the config).
MAX_CONFIG = 1024 * 1024
MAX_PACKAGE = 64 * 1024 * 1024


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _send(fd: int, message: dict[str, object]) -> None:
    body = json.dumps(message).encode()
    view = memoryview(_HEADER.pack(len(body)) + body)
    while view:
        view = view[os.write(fd, view):]


def main() -> None:
    port = sys.argv[1]
    started = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    fd = os.open(port, os.O_RDWR)
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    _send(fd, {"type": "booted", "uptime_s": uptime, "init_s": started})
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
    if size > MAX_CONFIG:
        raise SystemExit(f"init frame of {size} bytes")
    config = json.loads(_read_exact(fd, size))
    package_size = int(config.pop("package_size"))
    if not 0 <= package_size <= MAX_PACKAGE:
        raise SystemExit(f"package of {package_size} bytes")
    os.makedirs("/tmp/sandbox", exist_ok=True)
    package = "/tmp/package.zip"
    with open(package, "wb") as f:
        f.write(_read_exact(fd, package_size))
    package_fd = os.open(package, os.O_RDONLY)
    os.unlink(package)
    config.update({"request_fd": fd, "response_fd": fd, "package_fd": package_fd,
                   "work_dir": "/tmp/sandbox", "host_pid": 0, "mounts": None})
    os.set_inheritable(fd, True)
    os.set_inheritable(package_fd, True)
    runtime = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_runtime.py")
    os.execv(sys.executable, [sys.executable, "-I", "-S", runtime, json.dumps(config)])


if __name__ == "__main__":
    main()

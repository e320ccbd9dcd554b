"""``vm`` isolation: each sandbox a QEMU ``microvm`` with a kernel of its own.

**Set-up** (:func:`ensure_guest`, ``bazaar functions vm-setup``): ``apt-get download`` the Debian
cloud kernel package (never installed as the host's kernel) and unpack its ``vmlinuz`` and the
five virtio modules under the cache directory; build a tiny initramfs (Debian's static busybox,
the modules, a shell ``/init``) and a read-only ext4 root disk holding the host's Python
(interpreter, ``libpython``, the standard library without its tests, the shared libraries they
link) and the two guest programs: ``_vm_init.py`` and the sandbox runtime ``_runtime.py``. The
disk is shared read-only by every VM; a VM's writes go to its own ``/tmp`` (a tmpfs in its RAM).

**Boot** (:func:`boot`): ``qemu-system-x86_64 -M microvm`` with no network device (unless the
function allows network: then user-mode networking), the root disk on virtio-blk, the console on
the serial port (the host reads it as the sandbox's stray output) and a virtio-serial port
backed by a unix socket in a private directory: the Init/Invoke channel. The guest's PID 1
(``_vm_init.py``) announces ``booted`` on it and waits for the Init frame and package.

**Accelerator** (:func:`accelerator`): a probe boots once under KVM with a deadline when
``/dev/kvm`` opens; if the guest does not reach ``booted`` in time the VMs run under TCG
(software emulation) and the reason is kept. The verdict is cached per host kernel, QEMU and
guest kernel for a day.

**Warm pool** (:class:`VmPool`): a cold boot costs seconds under TCG, so each worker host keeps
booted VMs waiting at ``booted`` per (memory, network) and boots a replacement in the background
whenever one is taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_HEADER = struct.Struct(">I")
QEMU = "qemu-system-x86_64"
KERNEL_PACKAGE = "linux-image-cloud-amd64"
#: Loaded in this order by the guest's /init (the cloud kernel has them as modules).
MODULES = ("virtio_ring", "virtio", "virtio_mmio", "virtio_blk", "virtio_console")
NET_MODULES = ("failover", "net_failover", "virtio_net")
#: How long the probe waits for a KVM guest to reach its init before choosing TCG.
KVM_PROBE_S = 10.0
#: A cold boot's deadline (TCG on a loaded 2-core machine: ~6 s measured, slower under load).
BOOT_TIMEOUT_S = 90.0
SANDBOX_UID = 1000
#: The smallest VM (Lambda's smallest memory size too): the guest kernel takes ~50 MiB of it.
MIN_MEMORY_MB = 128
_STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
                "pydoc_data", "site-packages", "unittest", "distutils"}


class VmUnavailable(RuntimeError):
    """This host cannot run ``vm`` sandboxes (no QEMU, no guest kernel); says why."""


def cache_dir() -> Path:
    """Where the guest kernel and images live: ``$BAZAAR_VM_CACHE`` or
    ``$XDG_CACHE_HOME/bazaar/vm`` (``~/.cache/bazaar/vm``)."""
    explicit = os.environ.get("BAZAAR_VM_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bazaar" / "vm"


def qemu_path() -> str | None:
    return shutil.which(QEMU)


@dataclass(frozen=True)
class Guest:
    """The files a VM boots from."""

    kernel: Path
    initramfs: Path
    rootfs: Path
    kernel_version: str
    python: str

    def describe(self) -> dict[str, str]:
        return {"kernel": self.kernel_version, "image": self.rootfs.parent.name,
                "python": self.python}


@contextlib.contextmanager
def _build_lock(directory: Path) -> Any:
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / ".build-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process building waits here, then reuses
        yield
    finally:
        os.close(fd)


def _run(argv: list[str], cwd: Path | None = None, timeout: float = 600.0) -> str:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except FileNotFoundError as exc:
        raise VmUnavailable(f"{argv[0]} is not installed: {exc}") from exc
    if done.returncode != 0:
        raise VmUnavailable(f"{' '.join(argv)} failed ({done.returncode}): "
                            f"{(done.stderr or done.stdout).strip()[-800:]}")
    return done.stdout


def _kernel_package() -> str:
    """The versioned package the cloud kernel metapackage depends on."""
    out = _run(["apt-cache", "depends", KERNEL_PACKAGE])
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends:") and "linux-image-" in line:
            return line.split(":", 1)[1].strip()
    raise VmUnavailable(f"apt knows no {KERNEL_PACKAGE} (run apt-get update)")


def ensure_kernel(progress: Callable[[str], None] = lambda _: None) -> tuple[Path, str]:
    """The guest kernel directory (vmlinuz + modules/) and its version; downloaded and
    unpacked on first use, under a lock so concurrent hosts download once."""
    root = cache_dir() / "kernel"
    with _build_lock(cache_dir()):
        for done in sorted(root.glob("*/vmlinuz")):
            return done.parent, done.parent.name
        package = _kernel_package()
        progress(f"downloading {package} (apt-get download; not installed on the host)")
        scratch = Path(tempfile.mkdtemp(prefix="kernel-", dir=cache_dir()))
        try:
            _run(["apt-get", "download", package], cwd=scratch)
            deb = next(scratch.glob("*.deb"))
            _run(["dpkg-deb", "-x", str(deb), str(scratch / "x")])
            vmlinuz = next((scratch / "x" / "boot").glob("vmlinuz-*"))
            version = vmlinuz.name.removeprefix("vmlinuz-")
            target = root / version
            (target / "modules").mkdir(parents=True, exist_ok=True)
            moddir = scratch / "x" / "lib" / "modules" / version / "kernel"
            for name in (*MODULES, *NET_MODULES):
                found = next(moddir.rglob(f"{name}.ko"), None)
                if found is None:
                    raise VmUnavailable(f"module {name}.ko missing from {package}")
                shutil.copy2(found, target / "modules" / found.name)
            shutil.copy2(vmlinuz, target / "vmlinuz.part")
            os.replace(target / "vmlinuz.part", target / "vmlinuz")
            return target, version
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _busybox() -> Path:
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        path = Path(candidate)
        # A dynamically linked busybox names its loader in its first pages; the
        # initramfs has no libc for it.
        if path.exists() and b"ld-linux" not in path.read_bytes()[:8192]:
            return path
    raise VmUnavailable("a static busybox is needed for the guest's init: "
                        "apt-get install busybox-static")


_INIT = """#!/bin/busybox sh
export PATH=/bin
busybox mount -t devtmpfs dev /dev
busybox mount -t proc proc /proc
busybox mount -t sysfs sys /sys
for m in {modules}; do busybox insmod /modules/$m.ko; done
n=0
while [ ! -b /dev/vda ] && [ $n -lt 400 ]; do busybox usleep 10000; n=$((n+1)); done
port=""
for d in /sys/class/virtio-ports/*; do
  [ "$(busybox cat $d/name 2>/dev/null)" = bazaar ] && port=/dev/$(busybox basename $d)
done
[ -n "$port" ] || {{ echo "bazaar-vm: no virtio-serial port"; busybox poweroff -f; }}
busybox mount -o ro /dev/vda /newroot || busybox poweroff -f
if busybox grep -q bazaar.net=1 /proc/cmdline; then
  busybox ip link set lo up; busybox ip link set eth0 up
  busybox ip addr add 10.0.2.15/24 dev eth0; busybox ip route add default via 10.0.2.2
  echo "nameserver 10.0.2.3" > /tmp-resolv
fi
tmp=$(busybox sed -n 's/.*bazaar.tmp_mb=\\([0-9]*\\).*/\\1/p' /proc/cmdline)
busybox mount -t tmpfs -o size=${{tmp:-64}}m,mode=1777,nosuid,nodev tmpfs /newroot/tmp
busybox mount --move /dev /newroot/dev
busybox mount --move /proc /newroot/proc
busybox umount /sys
t=$(busybox cut -d' ' -f1 /newroot/proc/uptime)
exec busybox switch_root /newroot {python} -I -S /bazaar/_vm_init.py $port $t
"""


def _cpio(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive of ``(name, mode, data)`` (directories have empty data)."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], 1):
        raw = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(raw), 0)
        out += b"070701" + b"".join(f"{v:08x}".encode() for v in fields) + raw
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def _libraries(files: list[Path]) -> set[str]:
    """Shared libraries (as ldd names their paths) the given ELF files need."""
    found: set[str] = set()
    for path in files:
        done = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
        for line in done.stdout.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) > parts.index("=>") + 1:
                target = parts[parts.index("=>") + 1]
                if target.startswith("/"):
                    found.add(target)
            elif parts and parts[0].startswith("/"):
                found.add(parts[0])
    return found


def _place(host_path: str, staging: Path) -> None:
    """Copy ``host_path`` into ``staging`` at the same path, symlinked directories (Debian's
    merged /usr: /lib -> usr/lib) reproduced as links."""
    current = Path("/")
    parts = Path(host_path).parts[1:]
    for i, part in enumerate(parts):
        current = current / part
        mirror = staging / current.relative_to("/")
        if current.is_symlink():
            if not mirror.is_symlink() and not mirror.exists():
                mirror.parent.mkdir(parents=True, exist_ok=True)
                mirror.symlink_to(os.readlink(current))
            target = current.parent / os.readlink(current)
            rest = Path(*parts[i + 1:]) if i + 1 < len(parts) else None
            if rest is not None:
                _place(str(Path(os.path.normpath(target)) / rest), staging)
            elif not target.is_dir():
                _place(os.path.normpath(target), staging)
            return
    mirror = staging / Path(host_path).relative_to("/")
    mirror.parent.mkdir(parents=True, exist_ok=True)
    if not mirror.exists():
        shutil.copy2(host_path, mirror)


def _image_key(kernel_version: str) -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in ("_runtime.py", "_vm_init.py", "_vm.py"):
        digest.update((here / name).read_bytes())
    digest.update(f"{sys.version}|{sys.base_prefix}|{kernel_version}".encode())
    return digest.hexdigest()[:16]


def ensure_guest(progress: Callable[[str], None] = lambda _: None) -> Guest:
    """Everything a VM boots from, built once per kernel + Python + runtime version."""
    if qemu_path() is None:
        raise VmUnavailable(f"{QEMU} is not installed: apt-get install qemu-system-x86")
    kernel_dir, version = ensure_kernel(progress)
    base = Path(sys.base_prefix).resolve()
    python = Path(os.path.realpath(sys.executable))
    if not python.is_relative_to(base):
        python = base / "bin" / python.name
    image = cache_dir() / "images" / _image_key(version)
    guest = Guest(kernel_dir / "vmlinuz", image / "initramfs.cpio", image / "rootfs.img",
                  version, f"{sys.version.split()[0]} ({python})")
    with _build_lock(cache_dir()):
        if guest.rootfs.exists() and guest.initramfs.exists():
            return guest
        progress(f"building the guest image {image.name} (Python {guest.python})")
        image.mkdir(parents=True, exist_ok=True)
        _build_initramfs(guest, kernel_dir, python)
        _build_rootfs(guest, base, python)
    return guest


def _build_initramfs(guest: Guest, kernel_dir: Path, python: Path) -> None:
    modules = sorted(kernel_dir.glob("modules/*.ko"))
    entries: list[tuple[str, int, bytes]] = [
        (d, 0o40755, b"") for d in ("bin", "dev", "proc", "sys", "newroot", "modules")]
    entries.append(("bin/busybox", 0o100755, _busybox().read_bytes()))
    for applet in ("sh",):
        entries.append((f"bin/{applet}", 0o100755, _busybox().read_bytes()))
    entries += [(f"modules/{m.name}", 0o100644, m.read_bytes()) for m in modules]
    init = _INIT.format(modules=" ".join([*MODULES, *NET_MODULES]), python=python)
    entries.append(("init", 0o100755, init.encode()))
    part = guest.initramfs.with_suffix(".part")
    part.write_bytes(_cpio(entries))
    os.replace(part, guest.initramfs)


def _build_rootfs(guest: Guest, base: Path, python: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix="rootfs-", dir=guest.rootfs.parent))
    try:
        for d in ("tmp", "proc", "dev", "bazaar", "etc"):
            (staging / d).mkdir()
        stdlib = base / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
        elves = [python]
        _place(str(python), staging)
        for lib in sorted((base / "lib").glob("libpython*.so*")):
            _place(str(lib), staging)
            elves.append(lib)
        for path in stdlib.rglob("*"):
            rel = path.relative_to(stdlib)
            if (rel.parts[0] in _STDLIB_SKIP or path.is_dir() or ".opt-" in path.name
                    or path.suffix not in {".py", ".pyc", ".so"}):
                continue
            _place(str(path), staging)
            if path.suffix == ".so":
                elves.append(path)
        for needed in sorted(_libraries(elves)):
            _place(needed, staging)
        here = Path(__file__).parent
        for name in ("_runtime.py", "_vm_init.py"):
            shutil.copy2(here / name, staging / "bazaar" / name)
        (staging / "etc" / "passwd").write_text(
            f"root:x:0:0::/:/nonexistent\nsandbox:x:{SANDBOX_UID}:{SANDBOX_UID}::/tmp:/nonexistent\n")
        used = sum(f.stat().st_size for f in staging.rglob("*") if f.is_file())
        size_mb = used // (1024 * 1024) * 3 // 2 + 16
        part = guest.rootfs.with_suffix(".part")
        part.unlink(missing_ok=True)
        _run(["mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-L", "bazaar-vm",
              "-E", "root_owner=0:0", "-d", str(staging), str(part), f"{size_mb}M"])
        os.replace(part, guest.rootfs)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --- booting ----------------------------------------------------------------------------------

def qemu_command(guest: Guest, *, accel: str, memory_mb: int, socket_path: Path,
                 allow_network: bool = False, tmp_mb: int = 64) -> list[str]:
    """The QEMU command line of one sandbox VM."""
    append = ["console=ttyS0", "quiet", "loglevel=1", "panic=-1", "oops=panic",
              "rdinit=/init", f"bazaar.tmp_mb={tmp_mb}", "random.trust_cpu=on",
              # Under TCG the kernel cannot calibrate its TSC against the PIT (the guest
              # stalls after "Marking TSC unstable"): give it a frequency and skip the checks.
              "tsc_early_khz=2000000", "lpj=8000000", "no_timer_check"]
    if allow_network:
        append.append("bazaar.net=1")
    cpu = "host" if accel == "kvm" else "max"
    # TCG's translation cache would otherwise grow to QEMU's default (1 GiB here): 32 MiB
    # keeps a sandbox's host memory near its guest's.
    accel_opt = "tcg,tb-size=32" if accel == "tcg" else accel
    argv = [qemu_path() or QEMU, "-M", "microvm,x-option-roms=off,rtc=on", "-accel", accel_opt,
            "-cpu", cpu, "-smp", "1", "-m", f"{memory_mb}M", "-nodefaults", "-no-user-config",
            "-nographic", "-no-reboot", "-serial", "stdio", "-monitor", "none",
            "-kernel", str(guest.kernel), "-initrd", str(guest.initramfs),
            "-append", " ".join(append),
            "-drive", f"id=root,file={guest.rootfs},format=raw,if=none,readonly=on",
            "-device", "virtio-blk-device,drive=root",
            "-device", "virtio-serial-device",
            "-chardev", f"socket,id=ch0,path={socket_path},server=on,wait=off",
            "-device", "virtserialport,chardev=ch0,name=bazaar"]
    if allow_network:
        argv += ["-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"]
    return argv


def _die_with_parent() -> Callable[[], None]:
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def hook() -> None:  # pragma: no cover - runs in the forked child
        os.setsid()
        prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: a killed host leaves no VM
        if os.getppid() != parent:
            os._exit(1)

    return hook


@dataclass
class BootedVm:
    """A VM whose guest init announced ``booted``: the QEMU process and the channel."""

    proc: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    accel: str
    memory_mb: int
    allow_network: bool
    boot_ms: float
    guest_uptime_s: float
    directory: Path
    #: The guest's uptime when its init started Python (the kernel's share of the boot).
    kernel_s: float = 0.0

    def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.writer.close()
        shutil.rmtree(self.directory, ignore_errors=True)


async def _read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if size > 1024 * 1024:
        raise ConnectionError(f"the guest sent a frame of {size} bytes before Init")
    message: dict[str, Any] = json.loads(await reader.readexactly(size))
    return message


async def boot(guest: Guest, *, accel: str, memory_mb: int, allow_network: bool = False,
               tmp_mb: int = 64, timeout_s: float = BOOT_TIMEOUT_S) -> BootedVm:
    """Start one VM and wait (at most ``timeout_s``) until its init says ``booted``.
    Raises TimeoutError (the VM is killed) or ConnectionError (QEMU or the guest died)."""
    directory = Path(tempfile.mkdtemp(prefix="bzvm-"))  # 0700: only this user reaches it
    socket_path = directory / "ch"
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *qemu_command(guest, accel=accel, memory_mb=memory_mb, socket_path=socket_path,
                      allow_network=allow_network, tmp_mb=tmp_mb),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, preexec_fn=_die_with_parent(),
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                if proc.returncode is not None:
                    raise ConnectionError(await _exit_text(proc))
                try:
                    reader, writer = await asyncio.open_unix_connection(
                        str(socket_path), limit=2**26)
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    await asyncio.sleep(0.02)
            try:
                hello = await _read_frame(reader)
            except asyncio.IncompleteReadError:
                raise ConnectionError(await _exit_text(proc)) from None
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if writer is not None:
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5.0)
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return BootedVm(proc, reader, writer, accel, memory_mb, allow_network,
                    (time.perf_counter() - started) * 1000, float(hello.get("uptime_s", 0.0)),
                    directory, float(hello.get("init_s", 0.0)))


async def _exit_text(proc: asyncio.subprocess.Process) -> str:
    output = b""
    if proc.stdout is not None:
        with contextlib.suppress(Exception):
            output = await asyncio.wait_for(proc.stdout.read(4000), 1.0)
    code = await proc.wait()
    return f"QEMU exited ({code}) before the guest booted: " + output.decode(
        "utf-8", "replace").strip()[-600:]


# --- accelerator probe ------------------------------------------------------------------------

def _kvm_opens() -> str | None:
    """None when /dev/kvm can be opened read-write, else why not."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"/dev/kvm: {exc.strerror}"
    os.close(fd)
    return None


_ACCEL: dict[str, Any] | None = None


async def accelerator(guest: Guest, *, refresh: bool = False) -> dict[str, Any]:
    """``{"accel": "kvm"|"tcg", "reason": …, "probe_ms": …}`` for this host: KVM when a probe
    guest boots under it within :data:`KVM_PROBE_S`, else TCG. Cached in memory and, for a
    day, in the cache directory (per host kernel, QEMU binary and guest kernel)."""
    global _ACCEL
    if _ACCEL is not None and not refresh:
        return _ACCEL
    qemu = Path(qemu_path() or QEMU)
    key = hashlib.sha256(f"{platform.release()}|{qemu.stat().st_mtime_ns}|"
                         f"{guest.kernel}".encode()).hexdigest()[:16]
    cached = cache_dir() / f"accel-{key}.json"
    if not refresh and cached.exists() and time.time() - cached.stat().st_mtime < 86400:
        with contextlib.suppress(ValueError, OSError):
            _ACCEL = dict(json.loads(cached.read_text()))
            return _ACCEL
    forced = os.environ.get("BAZAAR_VM_ACCEL")
    if forced in {"kvm", "tcg"}:
        return {"accel": forced, "reason": "set by BAZAAR_VM_ACCEL", "probe_ms": 0.0}
    why_not = _kvm_opens()
    result: dict[str, Any]
    if why_not is None:
        started = time.perf_counter()
        try:
            vm = await boot(guest, accel="kvm", memory_mb=128, timeout_s=KVM_PROBE_S)
        except TimeoutError:
            why_not = (f"/dev/kvm opens, but a microvm guest did not reach its init under "
                       f"KVM within {KVM_PROBE_S:.0f} s (nested virtualization stalls)")
        except (ConnectionError, OSError) as exc:
            why_not = f"KVM boot failed: {exc}"
        else:
            vm.kill()
            result = {"accel": "kvm", "reason": f"a probe guest booted under KVM in "
                      f"{vm.boot_ms:.0f} ms", "probe_ms": vm.boot_ms}
        probe_ms = (time.perf_counter() - started) * 1000
    else:
        probe_ms = 0.0
    if why_not is not None:
        result = {"accel": "tcg", "reason": f"software emulation (TCG): {why_not}",
                  "probe_ms": probe_ms}
    result["checked"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with contextlib.suppress(OSError):
        cached.write_text(json.dumps(result))
    _ACCEL = result
    return result


def setup_vm(progress: Callable[[str], None] = lambda _: None, *,
             refresh: bool = False) -> dict[str, Any]:
    """Download and build what ``vm`` sandboxes boot from, probe KVM vs TCG, and boot one
    guest: what ``bazaar functions vm-setup`` prints. Raises VmUnavailable."""
    guest = ensure_guest(progress)

    async def probe() -> dict[str, Any]:
        progress("probing the accelerator (a boot under KVM with a deadline)")
        accel = await accelerator(guest, refresh=refresh)
        progress(f"booting one guest under {accel['accel']}")
        vm = await boot(guest, accel=accel["accel"], memory_mb=MIN_MEMORY_MB)
        vm.kill()
        return {**accel, "boot_ms": round(vm.boot_ms, 1),
                "guest_uptime_s": vm.guest_uptime_s, "guest_kernel_s": vm.kernel_s}

    return {"qemu": qemu_path(), **guest.describe(), "cache": str(cache_dir()),
            **asyncio.run(probe())}


def status() -> dict[str, Any]:
    """What a worker host reports about ``vm`` isolation without booting anything."""
    if qemu_path() is None:
        return {"available": False, "reason": f"{QEMU} is not installed"}
    pooled = {} if _POOL is None else {"pool": _POOL.figures()}
    if _ACCEL is not None:
        return {"available": True, **_ACCEL, **pooled}
    for cached in sorted(cache_dir().glob("accel-*.json"),
                         key=lambda p: p.stat().st_mtime, reverse=True):
        with contextlib.suppress(ValueError, OSError):
            return {"available": True, **json.loads(cached.read_text()), **pooled}
    return {"available": True, "accel": "unprobed",
            "reason": "probed at the first vm sandbox (or bazaar functions vm-setup)", **pooled}


# --- the warm pool ----------------------------------------------------------------------------

class VmPool:
    """Booted VMs waiting for Init, per (memory, network); one per key by default
    (``$BAZAAR_VM_POOL``). Bound to the event loop it was first used on."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size if size is not None else int(os.environ.get("BAZAAR_VM_POOL", "1"))
        self._ready: dict[tuple[int, bool], list[BootedVm]] = {}
        self._booting: dict[tuple[int, bool], set[asyncio.Task[None]]] = {}
        self._guest: Guest | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Boots that failed in the background (kept for ``hosts``).
        self.failures: list[str] = []
        #: Sandboxes handed a booted VM from the pool, and those that had to boot one.
        self.taken_warm = 0
        self.booted_cold = 0

    async def guest(self) -> Guest:
        if self._guest is None:
            self._guest = await asyncio.to_thread(ensure_guest)
        return self._guest

    async def prepare(self) -> dict[str, Any]:
        """Build the guest (once) and probe the accelerator: what a first start would pay."""
        return await accelerator(await self.guest())

    async def take(self, memory_mb: int, allow_network: bool, tmp_mb: int,
                   timeout_s: float = BOOT_TIMEOUT_S) -> tuple[BootedVm, bool]:
        """A booted VM (and whether it came warm from the pool); a replacement starts
        booting in the background. Raises VmUnavailable, TimeoutError, ConnectionError."""
        guest = await self.guest()
        accel = (await accelerator(guest))["accel"]
        key = (memory_mb, allow_network)
        ready = self._ready.setdefault(key, [])
        while ready:
            vm = ready.pop(0)
            if vm.proc.returncode is None and not vm.reader.at_eof():
                self.taken_warm += 1
                self._refill(key, guest, accel, tmp_mb)
                return vm, True
            vm.kill()
        self.booted_cold += 1
        vm = await boot(guest, accel=accel, memory_mb=memory_mb, allow_network=allow_network,
                        tmp_mb=tmp_mb, timeout_s=timeout_s)
        self._refill(key, guest, accel, tmp_mb)
        return vm, False

    def _refill(self, key: tuple[int, bool], guest: Guest, accel: str, tmp_mb: int) -> None:
        booting = self._booting.setdefault(key, set())
        missing = self.size - len(self._ready.get(key, [])) - len(booting)
        for _ in range(max(0, missing)):
            task = asyncio.create_task(self._boot_one(key, guest, accel, tmp_mb))
            booting.add(task)
            task.add_done_callback(booting.discard)

    async def _boot_one(self, key: tuple[int, bool], guest: Guest, accel: str,
                        tmp_mb: int) -> None:
        try:
            vm = await boot(guest, accel=accel, memory_mb=key[0], allow_network=key[1],
                            tmp_mb=tmp_mb)
        except (TimeoutError, ConnectionError, OSError) as exc:
            self.failures = [*self.failures[-9:], f"{type(exc).__name__}: {exc}"]
            return
        self._ready.setdefault(key, []).append(vm)

    def warm(self) -> int:
        return sum(len(v) for v in self._ready.values())

    def figures(self) -> dict[str, Any]:
        """What ``bazaar functions hosts`` shows of the pool: VMs waiting, booting, and how
        sandboxes got theirs."""
        return {"size": self.size, "warm": self.warm(),
                "booting": sum(len(t) for t in self._booting.values()),
                "taken_warm": self.taken_warm, "booted_cold": self.booted_cold,
                "failures": list(self.failures)}

    def close(self) -> None:
        """Kill every pooled and booting VM."""
        for task in [t for tasks in self._booting.values() for t in tasks]:
            task.cancel()
        for vms in self._ready.values():
            for vm in vms:
                vm.kill()
        self._ready.clear()


_POOL: VmPool | None = None


def pool() -> VmPool:
    """This process's pool (a new one when the event loop changed: tests, labs)."""
    global _POOL
    loop = asyncio.get_running_loop()
    if _POOL is None or _POOL.loop is not loop:
        if _POOL is not None:
            _POOL.close()
        _POOL = VmPool()
        _POOL.loop = loop
    return _POOL

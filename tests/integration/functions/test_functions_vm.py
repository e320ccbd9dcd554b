"""``--isolation vm``: a function in a QEMU microVM answers, its escapes fail, a hung guest is
killed at its timeout while the platform serves other functions.

One platform for the module and few boots: the worker host's warm pool keeps one booted VM
per memory size, so the second VM function starts warm. A cold boot under TCG takes seconds.
"""

from __future__ import annotations

import http.server
import io
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bazaar.functions import FunctionsClient, FunctionSpec, ServerProcess, start_server_process
from bazaar.processes import eventually, free_port

if shutil.which("qemu-system-x86_64") is None:  # CI installs it (./dev TEST_PACKAGES)
    pytest.skip("qemu-system-x86_64 is not installed: apt-get install qemu-system-x86",
                allow_module_level=True)

MEMORY = 128
# The misbehaving handler plus what only a VM can answer: the memory its kernel sees.
VMAPP = """
import app


def handler(event, context):
    if event.get("kind") == "meminfo":
        with open("/proc/meminfo") as f:
            return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f)}
    if event.get("kind") == "fetch":  # the host, as QEMU's user-mode network shows it
        import urllib.request
        with urllib.request.urlopen(f"http://10.0.2.2:{event['port']}/", timeout=20) as r:
            return r.read().decode()
    if event.get("kind") == "env":
        import os
        return [os.environ.get("VM_GREETING"), os.environ["AWS_LAMBDA_FUNCTION_NAME"]]
    if event.get("kind") == "bigalloc":
        blob = bytearray(event["mb"] * 1024 * 1024)
        return len(blob)
    return app.handler(event, context)
"""


def zip_files(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def vm_server() -> Iterator[ServerProcess]:
    data_dir = Path(tempfile.mkdtemp(prefix="bazaar-vm-", dir="/var/tmp"))
    (data_dir / "auth").mkdir()
    (data_dir / "auth" / "master.key").write_text("the shop's AES master key")
    try:
        with start_server_process(data_dir, workers=1, worker_memory_mb=4096,
                                  timeout=120) as running:
            yield running
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def vm_client(vm_server: ServerProcess) -> Iterator[FunctionsClient]:
    with vm_server.client(timeout=300) as c:  # a cold boot under TCG on a loaded machine
        yield c


@pytest.fixture
def probe_vm(vm_client: FunctionsClient, faulty: bytes) -> str:
    if "vm-probe" not in {f["name"] for f in vm_client.list_functions()}:
        with zipfile.ZipFile(io.BytesIO(faulty)) as archive:
            files = {name: archive.read(name).decode() for name in archive.namelist()}
        vm_client.create(FunctionSpec("vm-probe", handler="vmapp.handler", memory_mb=MEMORY,
                                      timeout_s=60, init_timeout_s=120, isolation="vm",
                                      environment={"VM_GREETING": "hi from the guest"}),
                         zip_files({**files, "vmapp.py": VMAPP}))
    return "vm-probe"


def test_a_vm_function_answers_from_inside_its_own_kernel(
        vm_client: FunctionsClient, probe_vm: str) -> None:
    response = vm_client.invoke(probe_vm, {"kind": "ok", "n": 1})
    assert response.error is None, response.error
    assert response.payload["echo"] == {"kind": "ok", "n": 1}
    who = vm_client.invoke(probe_vm, {"kind": "whoami"}).payload
    assert who["uid"] == 1000  # the guest's unprivileged sandbox user
    caps = vm_client.invoke(probe_vm, {"kind": "caps"}).payload
    assert int(caps["CapEff"], 16) == 0 and caps["NoNewPrivs"] == "1"
    # the function's environment variables reach the handler inside the guest too
    assert vm_client.invoke(probe_vm, {"kind": "env"}).payload == ["hi from the guest",
                                                                   "vm-probe"]


def test_a_vm_function_cannot_reach_the_hosts_files_data_dir_or_control_port(
        vm_server: ServerProcess, vm_client: FunctionsClient, probe_vm: str) -> None:
    data = vm_server.data_dir
    secret = Path(tempfile.mkdtemp(prefix="bazaar-vm-host-")) / "secret"
    secret.write_text("host only")
    secret.chmod(0o644)  # world-readable on the host: only the VM boundary stops it
    secret.parent.chmod(0o755)
    parts = urlsplit(vm_server.url)
    try:
        seen = vm_client.invoke(probe_vm, {"kind": "probe", "probes": {
            "host_file": ("read", str(secret)),
            "shadow": ("read", "/etc/shadow"),
            "master_key": ("read", str(data / "auth" / "master.key")),
            "data_dir": ("list", str(data)),
            "control": ("unix", vm_server.control),
            "frontend": ("http", {"host": parts.hostname, "port": parts.port,
                                  "method": "GET", "path": "/functions"}),
            "tmp": ("write", "/tmp/inside-the-guest"),
        }}).payload
    finally:
        shutil.rmtree(secret.parent)
    assert seen.pop("tmp") == "ok"  # the guest's own /tmp
    for name, outcome in seen.items():
        assert outcome.startswith("refused: "), (name, seen)
    assert "Network is unreachable" in seen["frontend"]  # no network device at all
    assert not Path("/tmp/inside-the-guest").exists()


def test_a_fork_bomb_in_a_vm_is_stopped_and_the_vm_keeps_serving(
        vm_client: FunctionsClient, probe_vm: str) -> None:
    bomb = vm_client.invoke(probe_vm, {"kind": "fork"})
    assert bomb.error is not None and bomb.error["errorType"] == "BlockingIOError", bomb
    assert vm_client.invoke(probe_vm, {"kind": "ok"}).error is None


def test_a_hung_guest_is_killed_at_its_timeout_while_others_are_served(
        vm_client: FunctionsClient, vm_server: ServerProcess, faulty: bytes) -> None:
    package = faulty
    vm_client.create(FunctionSpec("vm-hang", memory_mb=MEMORY, timeout_s=4,
                                  init_timeout_s=120, isolation="vm"), package)
    vm_client.create(FunctionSpec("beside"), package)
    hung: dict[str, object] = {}

    def call() -> None:
        with vm_server.client(timeout=300) as own:
            hung["response"] = own.invoke("vm-hang", {"kind": "hang"})

    thread = threading.Thread(target=call)
    thread.start()
    served = 0
    while thread.is_alive() and served < 500:  # bounded: the hang ends at its timeout
        assert vm_client.invoke("beside", {"kind": "ok"}).error is None
        served += 1
    thread.join(300)
    response = hung["response"]
    assert response.error is not None  # type: ignore[attr-defined]
    assert response.error["errorType"] == "Sandbox.Timedout"  # type: ignore[attr-defined]
    assert served > 0  # the platform kept serving while the guest hung
    assert os.path.exists(vm_server.control)


def test_the_vms_memory_is_the_functions_limit(
        vm_client: FunctionsClient, probe_vm: str) -> None:
    meminfo = vm_client.invoke(probe_vm, {"kind": "meminfo"}).payload
    assert meminfo["MemTotal"] <= MEMORY * 1024  # the guest kernel sees only the VM's memory
    hog = vm_client.invoke(probe_vm, {"kind": "bigalloc", "mb": 4 * MEMORY})
    assert hog.error is not None, hog
    assert hog.error["errorType"] in {"Runtime.OutOfMemory", "MemoryError"}, hog
    # Runtime.OutOfMemory recycles the sandbox: the VM is gone, the host is not.


def test_the_warm_pool_hands_a_booted_vm_to_the_next_cold_start(
        vm_client: FunctionsClient, probe_vm: str, faulty: bytes) -> None:
    assert vm_client.invoke(probe_vm, {"kind": "ok"}).error is None  # its VM came from the pool

    def pool() -> dict[str, int]:
        return vm_client.hosts()[0]["isolation"]["vm"]["pool"]  # type: ignore[no-any-return]

    # A heartbeat's snapshot with a VM waiting and none booting was taken after every earlier
    # start had taken its VM (each start's take begins the refill that has now finished).
    before = eventually(lambda: (p := pool())["warm"] >= 1 and p["booting"] == 0 and p,
                        timeout=300, what="a booted VM waiting in the pool")
    vm_client.create(FunctionSpec("vm-warm", memory_mb=MEMORY, timeout_s=60,
                                  init_timeout_s=120, isolation="vm"), faulty)
    answer = vm_client.invoke("vm-warm", {"kind": "ok", "n": 2})
    assert answer.error is None, answer.error
    assert answer.init_duration_ms is not None  # a cold start of this function's sandbox...
    after = eventually(lambda: (p := pool())["taken_warm"] > before["taken_warm"] and p,
                       timeout=30, what="the heartbeat after the start")
    assert after["taken_warm"] == before["taken_warm"] + 1  # ...given the VM that was waiting
    assert after["booted_cold"] == before["booted_cold"]  # no boot on the request's path


def test_a_vm_allowed_the_network_reaches_the_host_through_user_mode_networking(
        vm_client: FunctionsClient, faulty: bytes) -> None:
    body = b"from the host, over the guest's virtio-net"

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", free_port()), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with zipfile.ZipFile(io.BytesIO(faulty)) as archive:
            files = {name: archive.read(name).decode() for name in archive.namelist()}
        package = zip_files({**files, "vmapp.py": VMAPP})
        vm_client.create(FunctionSpec("vm-net", handler="vmapp.handler", memory_mb=MEMORY,
                                      timeout_s=60, init_timeout_s=120, isolation="vm",
                                      allow_network=True), package)
        answer = vm_client.invoke("vm-net", {"kind": "fetch", "port": server.server_port})
        assert answer.error is None, answer.error
        assert answer.payload == body.decode()
    finally:
        server.shutdown()
        server.server_close()


def test_hosts_report_the_vm_accelerator(vm_client: FunctionsClient, probe_vm: str) -> None:
    hosts = vm_client.hosts()
    vm = hosts[0]["isolation"]["vm"]
    assert vm["available"] is True
    assert vm["accel"] in {"kvm", "tcg"}, vm
    assert vm["reason"]

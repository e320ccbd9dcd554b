"""Fixtures for the function platform's integration tests: real platforms, real processes."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bazaar.functions import FunctionsClient, ServerProcess, start_server_process

# One handler that misbehaves on request: every fault of the list, and some probes.
FAULTY = '''
import http.client, os, socket, sys, time
print("init ran")


def _probe(op, arg):
    """One escape attempt: 'ok' / 'http <status>' when it worked, 'refused: …' when not."""
    try:
        if op == "read":
            with open(arg, "rb") as f:
                f.read(64)
        elif op == "list":
            os.listdir(arg)
        elif op == "write":
            with open(arg, "w") as f:
                f.write("escaped")
        elif op == "unix":
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(2)
            s.connect(arg)
            s.close()
        elif op == "http":
            conn = http.client.HTTPConnection(arg["host"], arg["port"], timeout=3)
            conn.request(arg["method"], arg["path"], body=arg.get("body"),
                         headers={"content-type": "application/json"})
            return f"http {conn.getresponse().status}"
        return "ok"
    except OSError as exc:
        return f"refused: {type(exc).__name__}: {exc}"

def handler(event, context):
    kind = event.get("kind", "ok")
    print("event", kind)
    if kind == "ok":
        return {"echo": event, "version": context.function_version}
    if kind == "raise":
        raise ValueError("boom")
    if kind == "hang":
        time.sleep(3600)
    if kind == "exit":
        os._exit(3)
    if kind == "sysexit":
        sys.exit(4)
    if kind == "alloc":
        hog = []
        while True:
            hog.append(bytearray(10 ** 6))
    if kind == "fork":
        count = 0
        while True:
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
            count += 1
    if kind == "print":
        for _ in range(100_000):
            print("x" * 100)
        os.write(1, b"y" * 3_000_000)
        return "printed"
    if kind == "sleep":
        time.sleep(event["s"])
        return {"slept": event["s"]}
    if kind == "whoami":
        return {"uid": os.getuid(), "pid": os.getpid()}
    if kind == "env":
        return dict(os.environ)
    if kind == "connect":
        try:
            socket.create_connection(("127.0.0.1", event["port"]), timeout=2).close()
            return "connected"
        except OSError as exc:
            return f"refused: {exc}"
    if kind == "write":
        try:
            with open(event["path"], "w") as f:
                f.write("x")
            return "written"
        except OSError as exc:
            return f"denied: {exc}"
    if kind == "caps":
        with open("/proc/self/status") as f:
            return {k: v.strip() for k, v in (line.split(":", 1) for line in f)
                    if k in ("Uid", "CapInh", "CapPrm", "CapEff", "CapAmb", "NoNewPrivs")}
    if kind == "probe":
        return {name: _probe(op, arg) for name, (op, arg) in event["probes"].items()}
    if kind == "unserialisable":
        return object()
    raise KeyError(kind)
'''


def zip_files(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A platform (frontend + control plane) with one local worker host."""
    with start_server_process(tmp_path_factory.mktemp("functions"), workers=1,
                              retry_backoff_s=0.05, worker_memory_mb=4096) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[FunctionsClient]:
    with server.client() as c:
        yield c


@pytest.fixture
def faulty() -> bytes:
    """The zip of the misbehaving handler (module ``app``, function ``handler``)."""
    return zip_files({"app.py": FAULTY})


@pytest.fixture
def make_zip() -> Callable[[dict[str, str]], bytes]:
    return zip_files


@pytest.fixture
def faulty_dir(tmp_path: Path) -> Path:
    """The misbehaving handler as a source directory (for ``deploy``)."""
    (tmp_path / "fn").mkdir(exist_ok=True)
    (tmp_path / "fn" / "app.py").write_text(FAULTY)
    return tmp_path / "fn"

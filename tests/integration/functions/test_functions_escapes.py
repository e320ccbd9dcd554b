"""A deployed function tries to reach what is not its own — in both isolations, all refused.

The platform's data dir is put outside ``/tmp`` (which both isolations replace with a private
one) so that what stops a sandbox from reading it is its mode (0700), not where it lives.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bazaar.functions import FunctionsClient, FunctionSpec, ServerProcess, start_server_process

ISOLATIONS = ["process", "namespace"]


@pytest.fixture(scope="module")
def escape_server() -> Iterator[ServerProcess]:
    data_dir = Path(tempfile.mkdtemp(prefix="bazaar-escapes-", dir="/var/tmp"))
    os.chmod(data_dir, 0o755)  # as a user's data dir may be: the platform closes it
    (data_dir / "auth").mkdir()
    key = data_dir / "auth" / "master.key"
    key.write_text("the shop's AES master key")
    key.chmod(0o644)  # even a readable file is out of reach below a closed directory
    try:
        with start_server_process(data_dir, workers=1, worker_memory_mb=4096) as running:
            yield running
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def escape_client(escape_server: ServerProcess) -> Iterator[FunctionsClient]:
    with escape_server.client() as c:
        yield c


def _probe(client: FunctionsClient, faulty: bytes, isolation: str,
           probes: dict[str, tuple[str, Any]]) -> dict[str, str]:
    name = f"escape-{isolation}"
    if name not in {f["name"] for f in client.list_functions()}:
        client.create(FunctionSpec(name, isolation=isolation), faulty)  # type: ignore[arg-type]
    response = client.invoke(name, {"kind": "probe", "probes": probes})
    assert response.error is None, response.error
    result: dict[str, str] = response.payload
    return result


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_function_cannot_read_the_hosts_or_the_platforms_secrets(
        escape_server: ServerProcess, escape_client: FunctionsClient, faulty: bytes,
        isolation: str) -> None:
    data = escape_server.data_dir
    targets = [data / "auth" / "master.key", data / "functions" / "functions.db",
               data / "functions" / "server.json"]
    assert all(t.exists() for t in targets)  # the targets are real
    seen = _probe(escape_client, faulty, isolation, {
        "shadow": ("read", "/etc/shadow"),
        "master_key": ("read", str(data / "auth" / "master.key")),
        "functions_db": ("read", str(data / "functions" / "functions.db")),
        "server_json": ("read", str(data / "functions" / "server.json")),
        "data_dir": ("list", str(data)),
        "root": ("list", "/root"),
        "passwd": ("read", "/etc/passwd"),  # world-readable: the probe itself works
    })
    assert seen.pop("passwd") == "ok"
    for outcome in seen.values():  # closed (EACCES), or not even there (namespace: ENOENT)
        assert outcome.startswith(("refused: PermissionError", "refused: FileNotFoundError")), seen


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_function_holds_no_capability_and_cannot_gain_one(
        escape_client: FunctionsClient, faulty: bytes, isolation: str) -> None:
    _probe(escape_client, faulty, isolation, {})  # deployed
    status = escape_client.invoke(f"escape-{isolation}", {"kind": "caps"}).payload
    assert status["Uid"].split()[0] != "0"  # a sandbox-private uid
    for field in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(status[field], 16) == 0, status
    assert status["NoNewPrivs"] == "1"  # no setuid program gives one back


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_function_writes_only_its_own_tmp(escape_client: FunctionsClient, faulty: bytes,
                                            isolation: str) -> None:
    marker = Path("/tmp") / f"bazaar-escape-{isolation}-{os.getpid()}"
    try:
        seen = _probe(escape_client, faulty, isolation, {"tmp": ("write", str(marker))})
        assert seen["tmp"] == "ok"  # its private /tmp ...
        assert not marker.exists()  # ... not the host's
    finally:
        marker.unlink(missing_ok=True)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_function_cannot_deploy_or_delete_through_the_frontend(
        escape_server: ServerProcess, escape_client: FunctionsClient, faulty: bytes,
        isolation: str) -> None:
    parts = urlsplit(escape_server.url)
    where = {"host": parts.hostname, "port": parts.port}
    before = escape_client.list_functions()
    seen = _probe(escape_client, faulty, isolation, {
        "deploy": ("http", {**where, "method": "POST", "path": "/functions",
                            "body": json.dumps({"spec": {"name": "evil"}, "code": ""})}),
        "delete": ("http", {**where, "method": "DELETE", "path": f"/functions/escape-{isolation}"}),
        "list": ("http", {**where, "method": "GET", "path": "/functions"}),
    })
    # process: same network, no token (401); namespace: no network at all
    expected = "http 401" if isolation == "process" else "refused: "
    assert all(outcome.startswith(expected) for outcome in seen.values()), seen
    assert escape_client.list_functions() == before


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_function_cannot_reach_the_control_plane(
        escape_server: ServerProcess, escape_client: FunctionsClient, faulty: bytes,
        isolation: str) -> None:
    seen = _probe(escape_client, faulty, isolation, {"control": ("unix", escape_server.control)})
    assert seen["control"].startswith("refused: PermissionError"), seen

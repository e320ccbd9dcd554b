"""Sandboxes for real: process and bubblewrap, each fault of the issue, limits enforced."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bazaar.functions import PackageStore, Sandbox, SandboxFailed, SandboxLimits, SandboxSpec

ISOLATIONS = ["process", "namespace"]
_UIDS = iter(range(200_000_000 + (os.getpid() % 1000) * 1000, 2_000_000_000))  # above hosts' uids


def _run(tmp_path: Path, zipped: bytes, isolation: str,
         body: Callable[[Callable[[], Awaitable[Sandbox]]], Awaitable[None]],
         **spec: Any) -> None:
    store = PackageStore(tmp_path / "store")
    digest = store.put(zipped)
    uid = next(_UIDS)  # a fresh uid per test: zombies of another test don't count for NPROC
    settings = {"function": "f", "version": "$LATEST", "digest": digest,
                "handler": "app.handler", "memory_mb": 128, "timeout_s": 5.0,
                "init_timeout_s": 10.0, "isolation": isolation, **spec}

    async def main() -> None:
        sandboxes: list[Sandbox] = []

        async def start() -> Sandbox:
            sandbox = Sandbox(f"s{len(sandboxes)}", SandboxSpec(**settings),
                              SandboxLimits(max_processes=16, log_cap_bytes=32 * 1024))
            sandboxes.append(sandbox)
            await sandbox.start(store.path(digest), tmp_path / "work", uid)
            return sandbox
        try:
            await body(start)
        finally:
            for sandbox in sandboxes:
                await sandbox.kill()
    asyncio.run(main())


async def _invoke(sandbox: Sandbox, event: dict[str, Any],
                  timeout: float = 5.0) -> dict[str, Any]:
    return await sandbox.invoke("req", json.dumps(event).encode(), timeout)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_init_once_then_warm_reuse_as_a_private_uid(tmp_path: Path, faulty: bytes,
                                                    isolation: str) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        sandbox = await start()
        first = await _invoke(sandbox, {"kind": "whoami"})
        second = await _invoke(sandbox, {"kind": "whoami"})
        assert first["payload"] == second["payload"]  # same process: a warm start
        assert f'"uid": {sandbox.uid}' in first["payload"]  # not root: RLIMIT_NPROC applies
        assert first["logs"] == "event whoami\n"
    _run(tmp_path, faulty, isolation, body)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_the_host_environment_does_not_leak_into_the_sandbox(
        tmp_path: Path, faulty: bytes, isolation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAZAAR_MASTER_KEY", "host-secret")

    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        env = json.loads((await _invoke(await start(), {"kind": "env"}))["payload"])
        assert "BAZAAR_MASTER_KEY" not in env and "host-secret" not in env.values()
        assert env["BAZAAR_FUNCTION_NAME"] == "f" and env["TMPDIR"].endswith("tmp")
    _run(tmp_path, faulty, isolation, body)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_each_fault_gives_a_clear_error(tmp_path: Path, faulty: bytes, isolation: str) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        sandbox = await start()
        raised = await _invoke(sandbox, {"kind": "raise"})
        assert raised["error"]["type"] == "ValueError"
        assert any("app.py" in line for line in raised["error"]["trace"])
        assert sandbox.alive  # a handler exception keeps the sandbox warm
        marshal = await _invoke(sandbox, {"kind": "unserialisable"})
        assert marshal["error"]["type"] == "Runtime.MarshalError"

        forked = await _invoke(sandbox, {"kind": "fork"})
        assert forked["error"]["type"] == "BlockingIOError"  # RLIMIT_NPROC held

        alloc = await _invoke(sandbox, {"kind": "alloc"})
        assert alloc["error"]["type"] == "Runtime.OutOfMemory"
        assert not sandbox.alive  # recycled after running out of memory

        sandbox = await start()
        printed = await _invoke(sandbox, {"kind": "print"})
        assert printed["payload"] == '"printed"'
        assert printed["logs_truncated"]
        assert len(printed["logs"]) <= 2 * 32 * 1024

        sandbox = await start()  # os._exit: the runtime dies mid-invoke
        with pytest.raises(SandboxFailed) as died:
            await _invoke(sandbox, {"kind": "exit"})
        assert died.value.error.type == "Runtime.ExitError"
        assert "exit status 3" in died.value.error.message
        assert not sandbox.alive

        sandbox = await start()  # sys.exit: the runtime answers, then recycles the sandbox
        answer = await _invoke(sandbox, {"kind": "sysexit"})
        assert answer["error"]["type"] == "Runtime.ExitError"
        assert answer["error"]["message"] == "4"
        assert answer["recycle"] and not sandbox.alive

        sandbox = await start()
        with pytest.raises(SandboxFailed, match=r"Sandbox\.Timedout") as timed_out:
            await _invoke(sandbox, {"kind": "hang"}, timeout=0.5)
        assert not sandbox.alive
        # Killed at the timeout, not 10x later: its own measure of how long it ran.
        assert 500 <= timed_out.value.duration_ms <= 500 + 4500
        assert timed_out.value.max_rss_kb > 1024
    _run(tmp_path, faulty, isolation, body)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_killed_sandbox_leaves_no_process_of_its_uid(tmp_path: Path, faulty: bytes,
                                                       isolation: str) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        sandbox = await start()
        await _invoke(sandbox, {"kind": "fork"})
        uid = sandbox.uid
        assert len(_processes_of(uid)) > 1  # the bootstrap and its stuck children
        await sandbox.kill()
        for _ in range(100):  # SIGKILL is delivered asynchronously
            if not _processes_of(uid):
                break
            await asyncio.sleep(0.05)
        assert _processes_of(uid) == []
    _run(tmp_path, faulty, isolation, body)


def _processes_of(uid: int) -> list[int]:
    """Live (not zombie) processes whose real uid is ``uid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
            except OSError:
                continue
            if fields.get("Uid", "").split()[:1] == [str(uid)] and not fields.get(
                    "State", "").strip().startswith("Z"):
                found.append(int(entry))
    return found


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_zip_whose_module_lacks_the_handler_fails_init(tmp_path: Path, make_zip: Any,
                                                         isolation: str) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        with pytest.raises(SandboxFailed, match=r"Runtime\.HandlerNotFound") as failed:
            await start()
        assert "module loaded" in failed.value.logs
    _run(tmp_path, make_zip({"app.py": "print('module loaded')\n"}), isolation, body)


def test_a_tampered_package_fails_its_hash_check(tmp_path: Path, faulty: bytes) -> None:
    store = PackageStore(tmp_path / "store")
    digest = store.put(faulty)
    store.path(digest).chmod(0o644)
    store.path(digest).write_bytes(faulty + b"tampered")
    spec = SandboxSpec("f", "$LATEST", digest, "app.handler", 128, 5.0, 10.0)

    async def main() -> None:
        with pytest.raises(SandboxFailed, match="hash mismatch"):
            await Sandbox("s", spec, SandboxLimits()).start(store.path(digest), tmp_path,
                                                            next(_UIDS))
    asyncio.run(main())


def test_both_isolations_hide_the_host_tmp_and_namespace_hides_the_network(
        tmp_path: Path, faulty: bytes) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    marker = Path("/tmp") / f"bazaar-host-marker-{os.getpid()}"
    marker.write_text("host file")

    def probe(isolation: str, **spec: Any) -> dict[str, str]:
        seen: dict[str, str] = {}

        async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
            sandbox = await start()
            for name, event in {
                "net": {"kind": "connect", "port": port},
                "root": {"kind": "write", "path": "/opt/bazaar-probe"},
                "tmp": {"kind": "write", "path": str(marker)},
            }.items():
                seen[name] = (await _invoke(sandbox, event))["payload"]
        _run(tmp_path, faulty, isolation, body, **spec)
        return seen

    try:
        bare = probe("process")
        boxed = probe("namespace")
        allowed = probe("namespace", allow_network=True)
        host_view = marker.read_text()
    finally:
        listener.close()
        marker.unlink()
    assert bare["net"] == '"connected"' and allowed["net"] == '"connected"'
    assert boxed["net"].startswith('"refused')
    assert boxed["root"].startswith('"denied') and "Read-only" in boxed["root"]
    assert boxed["tmp"] == '"written"' and bare["tmp"] == '"written"'  # each its own /tmp ...
    assert host_view == "host file"  # ... not ours


def test_an_init_that_hangs_is_killed_at_the_init_timeout(tmp_path: Path, make_zip: Any) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        with pytest.raises(SandboxFailed, match=r"Runtime\.InitTimeout") as timed_out:
            await start()
        assert 500 <= timed_out.value.duration_ms <= 500 + 4500  # killed at the init timeout
    _run(tmp_path, make_zip({"app.py": "import time\ntime.sleep(3600)\n"
                                       "def handler(e, c): pass\n"}), "process", body,
         init_timeout_s=0.5)

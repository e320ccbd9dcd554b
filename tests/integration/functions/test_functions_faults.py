"""Faults of the platform itself: a worker host killed mid-invoke, a control plane killed with
events queued, idle sandboxes reaped."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from bazaar.functions import (
    FunctionsClient,
    FunctionSpec,
    HostLost,
    spawn_worker_host,
    start_server_process,
)
from bazaar.processes import eventually


def _succeeded(client: FunctionsClient, name: str) -> set[str]:
    return {r["requestId"] for r in client.logs(name, 500) if r["error"] is None}


def test_kill_9_a_worker_host_mid_invoke(tmp_path: Path, faulty: bytes) -> None:
    with start_server_process(tmp_path / "data", workers=1, retry_backoff_s=0.05,
                              heartbeat_s=0.2) as server, server.client() as client:
        client.create(FunctionSpec("slow", timeout_s=30), faulty)
        outcome: dict[str, Any] = {}

        def sync_call() -> None:
            try:
                outcome["response"] = client.invoke("slow", {"kind": "sleep", "s": 20})
            except HostLost as exc:
                outcome["error"] = exc

        caller = threading.Thread(target=sync_call)
        caller.start()
        # the sync invoke holds it for 20 s
        eventually(lambda: client.stats()["sandboxes"] == 1, timeout=60)
        events = [client.invoke_async("slow", {"kind": "sleep", "s": 1.5}) for _ in range(6)]
        # and async ones run beside it
        eventually(lambda: client.stats()["sandboxes"] >= 3, timeout=60)
        [host] = client.hosts()
        os.kill(host["pid"], signal.SIGKILL)
        caller.join(60)
        assert "error" in outcome, outcome  # the sync caller got an error, not a hang
        assert isinstance(outcome["error"], HostLost)  # lost during init or invoke
        # the platform replaces its local host; every async event still runs to success
        eventually(lambda: set(events) <= _succeeded(client, "slow"), timeout=60)
        assert client.dead_letters() == []
        reruns = [r for r in client.logs("slow", 500)
                  if r["requestId"] in events and r["host"] != host["host_id"]]
        assert reruns  # the events caught on the killed host ran again on its replacement
        assert [h["pid"] for h in client.hosts()] != [host["pid"]]
        assert client.invoke("slow", {"kind": "ok"}).payload["echo"] == {"kind": "ok"}


def test_an_external_worker_host_registers_and_its_loss_is_noticed(tmp_path: Path,
                                                                   faulty: bytes) -> None:
    with start_server_process(tmp_path / "data", workers=0, heartbeat_s=0.2) as server, \
            server.client() as client:
        client.create(FunctionSpec("f"), faulty)
        host = spawn_worker_host(server.control, tmp_path / "host", host_id="external-1")
        try:
            eventually(lambda: [h["host_id"] for h in client.hosts()] == ["external-1"], timeout=60)
            assert client.invoke("f", {"kind": "ok"}).payload["echo"] == {"kind": "ok"}
            host.kill()
            host.wait()
            eventually(lambda: client.hosts() == [], timeout=60)
            with pytest.raises(Exception, match="no worker host"):
                client.invoke("f", {"kind": "ok"})
        finally:
            host.kill()


def test_a_host_that_stops_heartbeating_is_forgotten(tmp_path: Path, faulty: bytes) -> None:
    with start_server_process(tmp_path / "data", workers=0, heartbeat_s=0.2) as server, \
            server.client() as client:
        client.create(FunctionSpec("f"), faulty)
        host = spawn_worker_host(server.control, tmp_path / "host", host_id="frozen")
        try:
            eventually(lambda: [h["host_id"] for h in client.hosts()] == ["frozen"], timeout=60)
            assert client.invoke("f", {"kind": "ok"}).payload["echo"] == {"kind": "ok"}
            os.kill(host.pid, signal.SIGSTOP)  # alive, connected, silent
            eventually(lambda: client.hosts() == [], timeout=60)
            assert client.stats()["sandboxes"] == 0
        finally:
            host.kill()
            host.wait()


def test_queued_events_survive_kill_9_of_the_control_plane(tmp_path: Path,
                                                           faulty: bytes) -> None:
    data = tmp_path / "data"
    first = start_server_process(data, workers=0)  # no host: events wait in the queue
    with first.client() as client:
        client.create(FunctionSpec("durable"), faulty)
        events = [client.invoke_async("durable", {"kind": "ok", "i": i}) for i in range(10)]
    first.stop(signal.SIGKILL)
    with start_server_process(data, workers=1) as second, \
            second.client() as client:
        eventually(lambda: set(events) <= _succeeded(client, "durable"), timeout=60)
        assert client.stats()["queue_depth"] == 0


def test_idle_sandboxes_are_reaped_and_the_next_start_is_cold(tmp_path: Path,
                                                              faulty: bytes) -> None:
    with start_server_process(tmp_path / "data", workers=1, idle_timeout_s=0.3) as server, \
            server.client() as client:
        client.create(FunctionSpec("idle"), faulty)
        assert client.invoke("idle", {"kind": "ok"}).init_duration_ms is not None
        eventually(lambda: client.stats()["sandboxes"] == 0, timeout=60)
        assert client.invoke("idle", {"kind": "ok"}).init_duration_ms is not None


def test_sigterm_stops_the_platform_and_its_hosts_cleanly(tmp_path: Path) -> None:
    server = start_server_process(tmp_path / "data", workers=2)
    with server.client() as client:
        host_pids = [h["pid"] for h in client.hosts()]
    assert len(host_pids) == 2
    server.stop()  # SIGTERM
    assert server.proc.returncode == 0
    assert not (tmp_path / "data" / "functions" / "server.json").exists()
    for pid in host_pids:
        eventually(lambda pid=pid: not _alive(pid), timeout=10)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_relative_data_dir_works(tmp_path: Path, faulty: bytes,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with start_server_process(Path(".bazaar"), workers=1) as server, \
            server.client() as client:
        for isolation in ("process", "namespace"):
            client.create(FunctionSpec(f"rel-{isolation}", isolation=isolation), faulty)
            response = client.invoke(f"rel-{isolation}", {"kind": "ok"})
            assert response.payload["echo"] == {"kind": "ok"}, response.error

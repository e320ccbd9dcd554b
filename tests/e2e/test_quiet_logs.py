"""Quiet logs: a client that hangs up mid-request is not an "unhandled error", and Ctrl-C or
TERM stops every service without a traceback in any log."""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bazaar.localservers import bazaar_up
from bazaar.processes import eventually


def _hang_up_mid_body(url: str, path: str) -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port)) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: 5000\r\n\r\n{{\"username\": \"half".encode())


def _tracebacks(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if "Traceback" in line or "CancelledError" in line or "unhandled error" in line]


def test_hang_ups_and_shutdown_leave_no_traceback(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with bazaar_up(data, env={"BAZAAR_SEED_DEMO": "false"}) as shop:
        services = httpx.get(f"{shop.url}/").json()["services"]
        flow = services["orchestrator"]["url"]
        for _ in range(3):
            _hang_up_mid_body(shop.url, "/users")
            _hang_up_mid_body(flow, "/api/definitions")
        # Long polls in flight when the orchestrator is told to stop.
        polls = [socket.create_connection((urlsplit(flow).hostname, urlsplit(flow).port))
                 for _ in range(3)]
        for s in polls:
            s.sendall(b"GET /api/tasks/poll/nobody?worker=w&wait_s=20 HTTP/1.1\r\nHost: x\r\n\r\n")
        # The requests reached the servers (their connections are counted) before the stop.
        eventually(lambda: 'route="/users"' in httpx.get(f"{shop.url}/metrics").text,
                   timeout=10, what="the shop saw the hung-up requests")
        code = shop.interrupt(timeout=60)
        for s in polls:
            s.close()
    assert code == 0, shop.output()[-3000:]
    logs = {path.name: path.read_text(errors="replace")
            for path in (data / "logs").glob("*.log")}
    logs["bazaar up"] = shop.output()
    assert "orchestrator.log" in logs
    found = {name: _tracebacks(text) for name, text in logs.items() if _tracebacks(text)}
    assert found == {}, found


def test_term_stops_quietly_too(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with bazaar_up(data, "--no-services", env={"BAZAAR_SEED_DEMO": "false"}) as shop:
        _hang_up_mid_body(shop.url, "/users")
        shop.child.send(signal.SIGTERM)
        shop.child.wait(60)
    assert shop.process.returncode == 0, shop.output()[-3000:]
    assert _tracebacks(shop.output()) == []

"""The attacks from the hardening issue, over raw sockets against a real uvicorn process
serving an app behind ``bazaar.web`` (1 MiB body limit, 1 s body and head timeouts)."""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from pathlib import Path

MIB = 1024 * 1024


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _read_response(sock: socket.socket, deadline_s: float = 10.0) -> tuple[int, dict[str, str],
                                                                           bytes]:
    """One HTTP/1.1 response with a Content-Length body."""
    sock.settimeout(deadline_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip()
               for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def _closed_by_server(sock: socket.socket, timeout_s: float = 5.0) -> bool:
    """True once the server closed the connection (EOF or reset); False if it was still
    open after ``timeout_s``."""
    sock.settimeout(timeout_s)
    try:
        while sock.recv(65536):
            continue
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_500_mb_content_length_is_refused_before_any_body_byte(guarded: tuple[int, int]) -> None:
    port, _ = guarded
    with _connect(port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 500000000\r\n\r\n")
        status, headers, body = _read_response(sock)
        assert status == 413
        assert headers["connection"] == "close"
        assert headers["content-type"] == "application/problem+json"
        problem = json.loads(body)
        assert problem["type"] == "https://bazaar.invalid/problems/body-too-large"
        assert problem["reason"] == "body-too-large"
        assert str(MIB) in problem["detail"]
        assert _closed_by_server(sock)


def test_an_endless_chunked_body_is_cut_off_at_the_limit(guarded: tuple[int, int]) -> None:
    port, _ = guarded
    chunk = b"x" * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    with _connect(port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        answered = False
        for _ in range(2000):  # 125 MiB at most: far past the 1 MiB limit
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                answered = True
                break
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, headers, body = _read_response(sock)
    assert answered
    assert status == 413
    assert headers["connection"] == "close"
    assert json.loads(body)["reason"] == "body-too-large"
    # What the kernel's buffers soaked up, not what the server kept.
    assert sent < 64 * MIB


def test_a_body_under_the_limit_still_works_on_a_kept_alive_connection(
        guarded: tuple[int, int]) -> None:
    port, _ = guarded
    with _connect(port) as sock:
        for size in (0, 1000, MIB):
            sock.sendall(f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n"
                         .encode() + b"a" * size)
            status, headers, body = _read_response(sock)
            assert status == 200
            assert json.loads(body) == {"received": size}
            assert headers.get("connection") != "close"


def test_a_stalled_body_gets_408_and_the_connection_closed(guarded: tuple[int, int]) -> None:
    port, _ = guarded
    with _connect(port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf")
        status, headers, body = _read_response(sock)
        assert status == 408
        assert headers["connection"] == "close"
        assert json.loads(body)["reason"] == "body-timeout"
        assert _closed_by_server(sock)


def test_a_half_sent_request_head_gets_408_and_the_connection_closed(
        guarded: tuple[int, int]) -> None:
    port, _ = guarded
    with _connect(port) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        status, headers, body = _read_response(sock)
        assert status == 408
        assert headers["connection"] == "close"
        assert json.loads(body)["reason"] == "header-timeout"
        assert _closed_by_server(sock)


def test_a_silent_connection_is_closed_too(guarded: tuple[int, int]) -> None:
    port, _ = guarded
    with _connect(port) as sock:
        status, _, _ = _read_response(sock)
        assert status == 408


def test_an_endless_request_head_gets_431(guarded: tuple[int, int]) -> None:
    port, _ = guarded
    with _connect(port) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
        try:
            for i in range(1000):  # 1000 x 1 KiB headers, far past the 16 KiB cap
                sock.sendall(f"X-Pad-{i}: {'p' * 1024}\r\n".encode())
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, headers, _ = _read_response(sock)
        assert status == 431
        assert headers["connection"] == "close"


def test_a_500_closes_the_connection_and_says_nothing_of_the_bug(
        guarded: tuple[int, int]) -> None:
    port, _ = guarded
    with _connect(port) as sock:
        sock.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = _read_response(sock)
        assert status == 500
        assert headers["connection"] == "close"
        problem = json.loads(body)
        assert problem["reason"] == "internal"
        assert "a bug" not in body.decode()
        assert _closed_by_server(sock)


def _push(port: int, total: int, out: list[int]) -> None:
    chunk = b"y" * (256 * 1024)
    sent = 0
    try:
        with _connect(port) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            while sent < total:
                sock.sendall(frame)
                sent += len(chunk)
    except OSError:
        pass
    out.append(sent)


def test_four_connections_pushing_60_mb_leave_the_rss_bounded(guarded: tuple[int, int]) -> None:
    port, pid = guarded
    connections = 4
    before = _rss_kib(pid)
    sent: list[int] = []
    threads = [threading.Thread(target=_push, args=(port, 60 * MIB, sent))
               for _ in range(connections)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads)
    grown_mib = (_rss_kib(pid) - before) / 1024
    # Without the limit the server held ~60 MB per connection; now each is cut at 1 MiB.
    assert grown_mib < 30, f"RSS grew {grown_mib:.0f} MiB"
    assert len(sent) == connections

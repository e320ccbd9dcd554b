"""The frontend reads nothing it has not allowed: the attacks, over raw sockets.

Limits are checked before a byte of the body is read (a declared Content-Length, the running
total of a chunked body), the Bearer token before the body too, slow heads and bodies are cut
off, and the server's memory stays where it was.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from tests.integration.functions.conftest import FAULTY, zip_files

from bazaar.functions import FunctionsClient, FunctionSpec, ServerProcess, start_server_process
from bazaar.processes import eventually

MB = 1024 * 1024


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with start_server_process(tmp_path_factory.mktemp("limits"), workers=1,
                              header_timeout_s=1.0, body_timeout_s=1.0,
                              max_connections=8) as running:
        yield running


@pytest.fixture(scope="module")
def limits_client(guarded: ServerProcess) -> Iterator[FunctionsClient]:
    with guarded.client() as c:
        c.create(FunctionSpec("target"), zip_files({"app.py": FAULTY}))
        yield c


def _rss_mb(server: ServerProcess) -> float:
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _connect(server: ServerProcess) -> socket.socket:
    parts = urlsplit(server.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return sock


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}"
                                                              for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: socket.socket) -> bytes:
    """One response (head and Content-Length body), or what came before the server closed
    (10 s at most)."""
    received = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while True:
            head, sep, body = received.partition(b"\r\n\r\n")
            if sep:
                lengths = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")]
                if lengths and len(body) >= lengths[0]:
                    break
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split()[1])


def test_a_huge_content_length_is_refused_before_its_body(guarded: ServerProcess,
                                                          limits_client: FunctionsClient) -> None:
    before = _rss_mb(guarded)
    for path in ("/functions", "/functions/target/invocations"):
        with _connect(guarded) as sock:
            sock.sendall(_head("POST", path, {"content-length": str(500 * MB),
                                              **limits_client.auth_headers()}))
            answer = _answer(sock)  # no byte of the body was sent: the answer comes anyway
        assert _status(answer) == 413, answer
        assert b"RequestTooLargeException" in answer
    assert _rss_mb(guarded) < before + 20


def test_a_chunked_body_is_cut_off_once_past_the_limit(guarded: ServerProcess,
                                                       limits_client: FunctionsClient) -> None:
    before = _rss_mb(guarded)
    chunk = b"x" * MB
    sent = 0
    with _connect(guarded) as sock:
        sock.sendall(_head("POST", "/functions/target/invocations",
                           {"transfer-encoding": "chunked", **limits_client.auth_headers()}))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(64):  # 64 MiB offered; the event limit is 6 MiB
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        answer = _answer(sock)
    assert _status(answer) == 413, answer
    assert _rss_mb(guarded) < before + 30


def test_without_a_token_the_body_is_never_read(guarded: ServerProcess) -> None:
    """401 right after the head, for a body well under the upload limit."""
    with _connect(guarded) as sock:
        sock.sendall(_head("POST", "/functions", {"content-length": str(60 * MB),
                                                  "content-type": "application/json"}))
        answer = _answer(sock)
    assert _status(answer) == 401, answer


def test_four_unauthenticated_clients_pushing_60_mb_leave_memory_flat(
        guarded: ServerProcess) -> None:
    before = _rss_mb(guarded)
    peaks: list[float] = []
    statuses: list[int] = []

    def push() -> None:
        with _connect(guarded) as sock:
            sock.sendall(_head("POST", "/functions", {"content-length": str(60 * MB)}))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
                for _ in range(60):
                    sock.sendall(b"x" * MB)
                    peaks.append(_rss_mb(guarded))
            statuses.append(_status(_answer(sock)))

    threads = [threading.Thread(target=push) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [401] * 4
    assert max(peaks, default=before) < before + 30


def test_a_half_sent_head_or_body_is_not_held_open(guarded: ServerProcess,
                                                   limits_client: FunctionsClient) -> None:
    with _connect(guarded) as sock:  # the head never ends
        sock.sendall(b"POST /functions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        answer = _answer(sock)
    assert answer == b"" or _status(answer) == 408, answer
    with _connect(guarded) as sock:  # the body stops after 10 of 1000 bytes
        sock.sendall(_head("POST", "/functions/target/invocations",
                           {"content-length": "1000", **limits_client.auth_headers()})
                     + b'{"kind": "')
        answer = _answer(sock)
    assert _status(answer) == 408, answer
    # ... and the platform still serves
    assert limits_client.invoke("target", {"kind": "ok"}).error is None


def test_tokens_are_checked(guarded: ServerProcess, limits_client: FunctionsClient,
                            tmp_path_factory: pytest.TempPathFactory) -> None:
    from bazaar.functions import PlatformAccess, Unauthorized

    with FunctionsClient(guarded.url) as anonymous, pytest.raises(Unauthorized):
        anonymous.list_functions()
    with FunctionsClient(guarded.url, token="not-a-jwt") as forged, pytest.raises(Unauthorized):
        forged.list_functions()
    stranger = PlatformAccess(tmp_path_factory.mktemp("other-keyring"))
    try:
        with FunctionsClient(guarded.url, token=stranger.issue()) as other, \
                pytest.raises(Unauthorized):
            other.invoke("target", {"kind": "ok"})
    finally:
        stranger.close()
    assert "target" in {f["name"] for f in limits_client.list_functions()}  # the right one works


def test_connections_beyond_the_cap_get_503_and_room_comes_back(
        guarded: ServerProcess, limits_client: FunctionsClient) -> None:
    request = _head("GET", "/functions", limits_client.auth_headers())
    held: list[socket.socket] = []
    statuses: list[int] = []
    try:
        for _ in range(20):  # keep-alive connections count against the cap of 8
            sock = _connect(guarded)
            held.append(sock)
            sock.sendall(request)
            statuses.append(_status(_answer(sock)))
            if statuses[-1] == 503:
                break
    finally:
        for sock in held:
            sock.close()
    # (the client fixture's own connection, and any still lingering, count too)
    assert statuses[-1] == 503 and 1 <= statuses.index(503) <= 8, statuses
    assert set(statuses[:-1]) == {200}
    assert eventually(lambda: "target" in {f["name"] for f in limits_client.list_functions()},
                      timeout=10, what="room again once the connections closed")

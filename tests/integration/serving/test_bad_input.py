"""Bad input on the TLS and QUIC ports: the server survives and keeps answering."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
import time

import h2.config
import h2.connection
import httpx
from tests.integration.serving.conftest import Generations

from bazaar.serving import h3_client

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _tls(generations: Generations) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(generations.files.ca_cert))
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", generations.tls_port), timeout=30)
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    assert sock.selected_alpn_protocol() == "h2"
    return sock


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", stream) + payload


def _read_until_closed(sock: ssl.SSLSocket, limit: float = 30) -> bytes:
    got = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            break
        if not chunk:
            break
        got += chunk
    return got


def _still_answers(generations: Generations) -> None:
    ca = ssl.create_default_context(cafile=str(generations.files.ca_cert))
    with httpx.Client(http2=True, verify=ca, timeout=30) as client:
        r = client.get(generations.h2 + "/hello")
    assert r.status_code == 200 and r.http_version == "HTTP/2"

    async def h3() -> int:
        async with h3_client("127.0.0.1", generations.tls_port,
                             ca=generations.files.ca_cert) as c:
            return (await c.get("/hello")).status

    assert asyncio.run(asyncio.wait_for(h3(), 60)) == 200
    assert generations.child.process.poll() is None


def _goaway_code(data: bytes) -> int | None:
    """The error code of the first GOAWAY frame in a stream of server frames."""
    i = 0
    while i + 9 <= len(data):
        length = int.from_bytes(data[i:i + 3], "big")
        if data[i + 3] == 0x7:
            return int.from_bytes(data[i + 9 + 4:i + 9 + 8], "big")
        i += 9 + length
    return None


def test_malformed_http2_frames_end_that_connection_only(generations: Generations) -> None:
    settings = _frame(0x4, 0, 0, b"")
    cases = {
        # a HEADERS block that is not HPACK (index 127+ into an empty dynamic table)
        "bad hpack": _frame(0x1, 0x5, 1, b"\xff\xff\xff\xff\x0f"),
        # a frame longer than the 16 KiB SETTINGS_MAX_FRAME_SIZE
        "oversized frame": _frame(0x0, 0, 1, b"x" * 20000),
        # DATA on stream 0, which is the connection
        "data on stream 0": _frame(0x0, 0x1, 0, b"hi"),
        # a SETTINGS frame whose length is not a multiple of 6
        "ragged settings": _frame(0x4, 0, 0, b"\x00\x01\x00"),
        # WINDOW_UPDATE of 0, a protocol error
        "zero window update": _frame(0x8, 0, 0, b"\x00\x00\x00\x00"),
        "random bytes": os.urandom(4096),
    }
    for name, frame in cases.items():
        with _tls(generations) as sock:
            sock.sendall(PREFACE + settings + frame)
            answer = _read_until_closed(sock)
        if name != "random bytes":
            code = _goaway_code(answer)
            assert code is not None and code != 0, (name, answer[:200])
    _still_answers(generations)


def test_a_rapid_reset_flood_leaves_the_server_answering(generations: Generations) -> None:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    headers = [(":method", "GET"), (":scheme", "https"),
               (":authority", f"localhost:{generations.tls_port}"), (":path", "/bytes/65536")]
    streams = 5000
    t0 = time.perf_counter()
    with _tls(generations) as sock:
        sock.sendall(conn.data_to_send())
        for i in range(streams):
            sid = 2 * i + 1
            conn.send_headers(sid, headers, end_stream=True)
            conn.reset_stream(sid)
            if i % 100 == 99:
                try:
                    sock.sendall(conn.data_to_send())
                except (ConnectionError, ssl.SSLError):
                    break  # the server hung up on the flood: also a defence
        else:
            sock.sendall(conn.data_to_send())
        sock.settimeout(5)
        _read_until_closed(sock, limit=5)
    print(f"\nrapid reset: {streams} HEADERS+RST_STREAM pairs sent in "
          f"{time.perf_counter() - t0:.2f} s")
    _still_answers(generations)


def test_garbage_datagrams_on_the_quic_port_are_ignored(generations: Generations) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for i in range(3000):
            size = (1, 5, 40, 1200, 1350, 1500)[i % 6]
            junk = bytearray(os.urandom(size))
            if i % 3 == 0 and size >= 1200:
                junk[0] = 0xC0 | (junk[0] & 0x0F)  # looks like a long-header Initial
                junk[1:5] = b"\x00\x00\x00\x01"     # QUIC v1
            udp.sendto(bytes(junk), ("127.0.0.1", generations.tls_port))
    _still_answers(generations)


def test_slow_readers_do_not_stall_others(generations: Generations) -> None:
    path = f"/bytes/{8 * 1024 * 1024}"
    slow = []
    for _ in range(4):  # ask for 8 MiB each and never read a byte
        sock = _tls(generations)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        conn.increment_flow_control_window(2**31 - 1 - 65535)
        conn.send_headers(1, [(":method", "GET"), (":scheme", "https"),
                              (":authority", "localhost"), (":path", path)], end_stream=True)
        conn.increment_flow_control_window(2**31 - 1 - 65535, stream_id=1)
        sock.sendall(conn.data_to_send())
        slow.append(sock)
    # and one that opens TCP and never begins its TLS handshake
    raw = socket.create_connection(("127.0.0.1", generations.tls_port))
    try:
        _still_answers(generations)
        httpx.get(generations.h1 + "/hello", timeout=30).raise_for_status()
    finally:
        for sock in slow:
            sock.close()
        raw.close()

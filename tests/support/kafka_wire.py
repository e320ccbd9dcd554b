"""Raw Kafka wire for the broker's robustness tests: frames sent by hand over a
plain socket, answers read exactly, and "did the broker close this connection?"."""

from __future__ import annotations

import socket
import struct


def connect(host: str, port: int, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """``n`` bytes, or ``ConnectionError`` if the peer closes first."""
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def request(sock: socket.socket, api_key: int, version: int, body: bytes,
            correlation_id: int = 1, client_id: bytes = b"test") -> bytes:
    """Send one request (header v1) and return the response body after the correlation id,
    which must match."""
    frame = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    frame += body
    sock.sendall(struct.pack(">i", len(frame)) + frame)
    size = struct.unpack(">i", recv_exactly(sock, 4))[0]
    payload = recv_exactly(sock, size)
    assert struct.unpack(">i", payload[:4])[0] == correlation_id
    return payload[4:]


def closed_by_peer(sock: socket.socket, timeout: float = 15.0, *, silent: bool = False) -> bool:
    """Whether the peer closes the connection within ``timeout`` (EOF or reset); False if it
    is still open then. ``silent``: also False if any byte arrives first (the peer answered
    instead of closing)."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    try:
        while sock.recv(1 << 16):
            if silent:
                return False
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False

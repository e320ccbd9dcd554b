"""The TLS listeners: one TCP socket (TLS; ALPN picks h2 or http/1.1) and one UDP socket
(QUIC; h3) on the same port number, as on the web's port 443.

Both are bound before anything starts, without ``SO_REUSEPORT``: a port someone else holds
fails loudly here, naming the option that chooses another.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from bazaar.processes import free_port

#: How many free ports to try for ``port=0`` when the UDP twin of a free TCP port is taken.
_ATTEMPTS = 20


@dataclass
class TlsListeners:
    """The bound TLS (TCP) and QUIC (UDP) sockets; ``port`` is the number they share."""

    tcp: socket.socket
    udp: socket.socket

    @property
    def port(self) -> int:
        return int(self.tcp.getsockname()[1])

    def close(self) -> None:
        self.tcp.close()
        self.udp.close()

    def __enter__(self) -> TlsListeners:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bound(host: str, port: int, kind: socket.SocketKind) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def listen_tls(host: str, port: int) -> TlsListeners:
    """Bind TCP and UDP ``host:port`` (``port=0``: a free number both sides have)."""
    last: OSError | None = None
    for _ in range(1 if port else _ATTEMPTS):
        candidate = port or free_port(host)
        try:
            tcp = _bound(host, candidate, socket.SOCK_STREAM)
        except OSError as exc:
            last = exc
            continue
        try:
            udp = _bound(host, candidate, socket.SOCK_DGRAM)
        except OSError as exc:
            tcp.close()
            last = exc
            continue
        return TlsListeners(tcp, udp)
    assert last is not None
    raise OSError(last.errno or errno.EADDRINUSE,
                  f"the TLS port {host}:{port} (TCP for h2, UDP for h3) is not available "
                  f"({last.strerror}); choose another with --tls-port (0 picks a free one)"
                  ) from last

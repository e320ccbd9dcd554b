"""The TLS listeners: TCP and UDP on one number, and a loud error when either is taken."""

from __future__ import annotations

import socket

import pytest

from bazaar.processes import free_port
from bazaar.serving import listen_tls


def test_port_zero_gives_one_number_for_tcp_and_udp() -> None:
    with listen_tls("127.0.0.1", 0) as tls:
        assert tls.tcp.type == socket.SOCK_STREAM and tls.udp.type == socket.SOCK_DGRAM
        assert tls.udp.getsockname()[1] == tls.port > 0


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM])
def test_a_taken_tcp_or_udp_port_is_refused_naming_the_option(kind: int) -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, kind) as taken:
        taken.bind(("127.0.0.1", port))
        if kind == socket.SOCK_STREAM:
            taken.listen()
        with pytest.raises(OSError, match=rf"TLS port 127.0.0.1:{port} .*--tls-port"):
            listen_tls("127.0.0.1", port)
    with listen_tls("127.0.0.1", port) as tls:  # nothing was left bound by the failure
        assert tls.port == port

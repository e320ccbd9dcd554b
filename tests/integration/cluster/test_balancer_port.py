"""The balancer refuses to report ready on a port another process holds: clients would meet
a stranger (CI once saw an HTTP client get binary frames from the "balancer" port)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from bazaar.cluster import nginx
from bazaar.cluster.errors import NodeFailed
from bazaar.processes import free_port


def test_a_balancer_on_a_taken_port_fails_instead_of_sharing_it(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port()))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(NodeFailed, match=r"Address already in use|another process"):
            nginx.start(nginx.Balancer(port, (("127.0.0.1", 9),), tmp_path / "lb", tmp_path))


def test_a_started_balancer_answers_its_own_identity(tmp_path: Path) -> None:
    node = nginx.start(nginx.Balancer(free_port(), (("127.0.0.1", 9),), tmp_path / "lb",
                                      tmp_path))
    try:
        answer = httpx.get(f"{node.url}{nginx.IDENTITY_PATH}", timeout=5)
        assert answer.status_code == 200 and len(answer.text) == 32
        # Everything else goes upstream (nothing listens on port 9: a 502 from nginx).
        assert httpx.get(f"{node.url}/health", timeout=10).status_code == 502
    finally:
        import os
        import signal
        os.kill(node.pid, signal.SIGQUIT)

"""``bazaar up`` refuses to start when the gRPC port is taken, naming it and the way out,
before anything else starts."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def test_a_taken_grpc_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "bazaar.cli", "up", "--no-services",
                            "--port", "0", "--grpc-port", str(port), "--data-dir",
                            str(tmp_path / "data")], capture_output=True, text=True,
                           timeout=120)
    assert r.returncode == 2
    assert f"the gRPC port 127.0.0.1:{port} is not available" in r.stderr
    assert "--grpc-port" in r.stderr
    assert not (tmp_path / "data" / "bazaar.db").exists()  # nothing was started

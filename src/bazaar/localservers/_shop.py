from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bazaar.localservers._servers import ServerUnavailable
from bazaar.processes import Child, ChildFailed, free_port


@dataclass
class ShopProcess:
    """``bazaar up`` running as a child process; its output goes to ``output_path``."""

    url: str
    data_dir: Path
    child: Child
    output_path: Path

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.child.process

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, as a user would; wait for the exit and return its code."""
        if self.child.alive:
            self.child.send(signal.SIGINT)
            self.child.wait(timeout)
        return self.process.returncode


@contextlib.contextmanager
def bazaar_up(data_dir: Path, *args: str, env: dict[str, str] | None = None,
              timeout: float = 90, output: Path | None = None) -> Iterator[ShopProcess]:
    """Run ``bazaar up --port <free> --data-dir DATA_DIR ARGS…`` until ``/health`` answers.

    ``env`` is added to this process's environment less its ``BAZAAR_*`` variables; the
    broker, orchestrator and dashboard ports default to free ones so runs never collide, and
    the pipeline is off unless ``env`` says ``BAZAAR_PIPELINE=true``. On exit: Ctrl-C
    (SIGINT), then kill -9 of the whole group if it does not stop within 30 s. Its output
    goes to ``output`` (default: ``DATA_DIR.up.out`` beside the data directory), truncated.
    """
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
    # The pipeline's ingester and dashboard only where asked (BAZAAR_PIPELINE=true): two
    # processes fewer to start for every shop that does not look at them.
    child_env.update(BAZAAR_BROKER_PORT="0", BAZAAR_FLOW_PORT="0", BAZAAR_GRPC_PORT="0",
                     BAZAAR_DASHBOARD_PORT="0", BAZAAR_PIPELINE="false")
    child_env.update(env or {})
    data_dir.mkdir(parents=True, exist_ok=True)
    output_path = output or data_dir.parent / f"{data_dir.name}.up.out"
    output_path.unlink(missing_ok=True)
    url = f"http://127.0.0.1:{port}"
    child = Child([sys.executable, "-m", "bazaar.cli", "up", "--port", str(port),
                   "--data-dir", str(data_dir), *args], name="bazaar up", env=child_env,
                  log=output_path, ready_url=f"{url}/health", ready_timeout=timeout)
    shop = ShopProcess(url, data_dir, child, output_path)
    try:
        try:
            child.start()
        except ChildFailed as exc:
            raise ServerUnavailable(str(exc)) from exc
        yield shop
    finally:
        child.stop(grace=30, sig=signal.SIGINT)

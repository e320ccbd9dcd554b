from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bazaar.localservers._servers import ServerUnavailable, free_port


@dataclass
class ShopProcess:
    """``bazaar up`` running as a child process; its output goes to ``output_path``."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    output_path: Path

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, as a user would; wait for the exit and return its code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=timeout)
        return self.process.returncode


@contextlib.contextmanager
def bazaar_up(data_dir: Path, *args: str, env: dict[str, str] | None = None,
              timeout: float = 90) -> Iterator[ShopProcess]:
    """Run ``bazaar up --port <free> --data-dir DATA_DIR ARGS…`` until ``/health`` answers.

    ``env`` is added to this process's environment less its ``BAZAAR_*`` variables; the
    broker and orchestrator ports default to free ones so runs never collide.
    """
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
    child_env.update(BAZAAR_BROKER_PORT="0", BAZAAR_FLOW_PORT="0")
    child_env.update(env or {})
    data_dir.mkdir(parents=True, exist_ok=True)
    output_path = data_dir.parent / f"{data_dir.name}.up.out"
    with output_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bazaar.cli", "up", "--port", str(port),
             "--data-dir", str(data_dir), *args],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env)
    shop = ShopProcess(f"http://127.0.0.1:{port}", data_dir, process, output_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise ServerUnavailable(f"bazaar up exited with {process.returncode}:\n"
                                        f"{shop.output()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{shop.url}/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"bazaar up did not answer within {timeout:.0f}s:\n"
                                        f"{shop.output()[-3000:]}")
            time.sleep(0.2)
        yield shop
    finally:
        if process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                shop.interrupt(timeout=30)
        if process.poll() is None:
            process.kill()
            process.wait()

"""The platform's two process entry points, ``serve`` and ``worker``.

``python -m bazaar.functions serve|worker`` runs them; the ``bazaar functions`` CLI calls the
same functions. The platform starts its own worker hosts this way, without going through the CLI.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bazaar.functions")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--data-dir", type=Path, required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--idle-timeout-s", type=float, default=300.0)
    serve.add_argument("--retry-backoff-s", type=float, default=1.0)
    serve.add_argument("--max-event-age-s", type=float, default=21600.0)
    serve.add_argument("--worker-memory-mb", type=int, default=2048)
    serve.add_argument("--worker-slots", type=int, default=64)
    serve.add_argument("--heartbeat-s", type=float, default=1.0)
    serve.add_argument("--header-timeout-s", type=float, default=10.0)
    serve.add_argument("--body-timeout-s", type=float, default=30.0)
    serve.add_argument("--max-connections", type=int, default=1000)
    serve.add_argument("--failed-auth-burst", type=int, default=30,
                       help="failed authentications per client address before 429")
    worker = sub.add_parser("worker")
    worker.add_argument("--control", type=Path, required=True,
                        help="the control plane's unix socket")
    worker.add_argument("--work-dir", type=Path, required=True)
    worker.add_argument("--memory-mb", type=int, default=2048)
    worker.add_argument("--slots", type=int, default=64)
    worker.add_argument("--heartbeat-s", type=float, default=1.0)
    worker.add_argument("--host-id", default="")
    args = parser.parse_args(argv)
    if args.command == "serve":
        run_serve(args.data_dir, host=args.host, port=args.port, workers=args.workers,
                  idle_timeout_s=args.idle_timeout_s, retry_backoff_s=args.retry_backoff_s,
                  max_event_age_s=args.max_event_age_s, worker_memory_mb=args.worker_memory_mb,
                  worker_slots=args.worker_slots, heartbeat_s=args.heartbeat_s,
                  header_timeout_s=args.header_timeout_s, body_timeout_s=args.body_timeout_s,
                  max_connections=args.max_connections,
                  failed_auth_burst=args.failed_auth_burst)
    else:
        run_worker(args.control, args.work_dir, memory_mb=args.memory_mb, slots=args.slots,
                   heartbeat_s=args.heartbeat_s, host_id=args.host_id)


def run_serve(data_dir: Path, *, host: str = "127.0.0.1", port: int = 8090, workers: int = 1,
              idle_timeout_s: float = 300.0, retry_backoff_s: float = 1.0,
              max_event_age_s: float = 21600.0, worker_memory_mb: int = 2048,
              worker_slots: int = 64, heartbeat_s: float = 1.0, header_timeout_s: float = 10.0,
              body_timeout_s: float = 30.0, max_connections: int = 1000,
              failed_auth_burst: int = 30) -> None:
    """Serve the platform in this process (uvloop) until SIGINT/SIGTERM."""
    import asyncio
    from dataclasses import replace

    import uvloop

    from bazaar.functions._async import AsyncPolicy
    from bazaar.functions._frontend import LISTENER
    from bazaar.functions._platform import PlatformConfig
    from bazaar.functions._server import WorkerSettings, serve

    config = PlatformConfig(data_dir=data_dir, host=host, port=port,
                            idle_timeout_s=idle_timeout_s, heartbeat_timeout_s=5 * heartbeat_s,
                            policy=AsyncPolicy(backoff_s=retry_backoff_s,
                                               max_event_age_s=max_event_age_s),
                            failed_auth_burst=failed_auth_burst)
    settings = WorkerSettings(memory_mb=worker_memory_mb, slots=worker_slots,
                              heartbeat_s=heartbeat_s)
    from bazaar.processes import DirLocked

    limits = replace(LISTENER, header_timeout_s=header_timeout_s, body_timeout_s=body_timeout_s,
                     max_connections=max_connections)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(config, local_workers=workers, worker=settings, limits=limits))
    except DirLocked as exc:  # a second platform on one data directory
        raise SystemExit(f"error: {exc}") from exc


def run_worker(control: Path, work_dir: Path, *, memory_mb: int = 2048, slots: int = 64,
               heartbeat_s: float = 1.0, host_id: str = "") -> None:
    """Run one worker host attached to the control plane's unix socket ``control``."""
    import contextlib

    from bazaar.functions._host import HostConfig, run_host

    with contextlib.suppress(KeyboardInterrupt):
        run_host(HostConfig(control=Path(control), work_dir=work_dir, memory_mb=memory_mb,
                            slots=slots, heartbeat_s=heartbeat_s, host_id=host_id))



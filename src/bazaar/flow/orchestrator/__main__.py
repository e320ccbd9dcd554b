"""``python -m bazaar.flow.orchestrator --db URL --port N``: the orchestrator process alone
(what ``bazaar flow serve`` runs), for tests, benchmarks and the lab to start and kill."""

from __future__ import annotations

import argparse
from pathlib import Path

from bazaar.flow.orchestrator.server import ServerConfig, serve
from bazaar.processes import DirLocked


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bazaar.flow.orchestrator")
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of the store")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8300)
    parser.add_argument("--threads", type=int, default=None, help="DB threads")
    parser.add_argument("--sync", default="NORMAL", help="SQLite synchronous")
    parser.add_argument("--limit", action="append", default=[], help="QUEUE=N")
    parser.add_argument("--register", action="append", default=[], type=Path)
    parser.add_argument("--sweep-interval", type=float, default=0.5)
    parser.add_argument("--kafka", default=None, help="host:port of the log for EVENT tasks")
    parser.add_argument("--event-topic", action="append", default=[],
                        help="a topic EVENT waits listen on")
    args = parser.parse_args(argv)
    limits = {q: int(n) for q, _, n in (item.partition("=") for item in args.limit)}
    try:
        serve(ServerConfig(database_url=args.db, host=args.host, port=args.port,
                           concurrency_limits=limits, db_threads=args.threads,
                           sqlite_synchronous=args.sync, definitions=tuple(args.register),
                           sweep_interval_s=args.sweep_interval, kafka_bootstrap=args.kafka,
                           event_topics=tuple(args.event_topic)))
    except DirLocked as exc:  # another orchestrator owns this SQLite store
        raise SystemExit(f"error: {exc}") from exc


if __name__ == "__main__":
    main()

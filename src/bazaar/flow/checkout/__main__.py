"""Run checkout services as their own processes.

    python -m bazaar.flow.checkout orchestrated --role payment --flow-url URL --dir DIR
    python -m bazaar.flow.checkout choreography --role payment --bootstrap HOST:PORT --dir DIR

``--role``: inventory, payment, shipping, notification, orders, or all. Fault settings
(``--decline-rate`` …) are the payment-provider simulator's and the carriers'.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from bazaar.flow.checkout.faults import Faults
from bazaar.flow.checkout.services import Databases, Services

ROLES = ("inventory", "payment", "shipping", "notification", "orders")


def _faults(args: argparse.Namespace) -> Faults:
    return Faults(decline_rate=args.decline_rate, timeout_rate=args.timeout_rate,
                  charged_on_timeout=args.charged_on_timeout,
                  provider_latency_s=args.provider_latency, ship_fail_rate=args.ship_fail_rate,
                  ship_flaky_rate=args.ship_flaky_rate,
                  notify_flaky_rate=args.notify_flaky_rate, seed=args.seed)


async def _orchestrated(args: argparse.Namespace, services: Services, roles: list[str]) -> None:
    from bazaar.flow.checkout.orchestrated import ROLES as TASKS
    from bazaar.flow.checkout.orchestrated import handlers
    from bazaar.flow.orchestrator import FlowClient, Worker

    client = FlowClient(args.flow_url)
    worker = Worker(client, worker_id=f"{'+'.join(roles)}-{os.getpid()}", poll_wait_s=5.0)
    table = handlers(services)
    for role in roles:
        for name in TASKS[role]:
            worker.add(name, table[name], concurrency=args.concurrency)
    await worker.run()


async def _choreography(args: argparse.Namespace, services: Services, roles: list[str]) -> None:
    from bazaar.flow.checkout.choreographed import run_services

    await run_services(args.bootstrap, services, roles)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bazaar.flow.checkout")
    parser.add_argument("mode", choices=("orchestrated", "choreography"))
    parser.add_argument("--role", action="append", choices=(*ROLES, "all"), required=True)
    parser.add_argument("--dir", type=Path, required=True, help="service databases")
    parser.add_argument("--flow-url", default="http://127.0.0.1:8300")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--concurrency", type=int, default=16)
    for name, default in (("decline-rate", 0.0), ("timeout-rate", 0.0),
                          ("charged-on-timeout", 0.5), ("provider-latency", 0.0),
                          ("ship-fail-rate", 0.0), ("ship-flaky-rate", 0.0),
                          ("notify-flaky-rate", 0.0)):
        parser.add_argument(f"--{name}", type=float, default=default)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    roles = list(ROLES) if "all" in args.role else list(dict.fromkeys(args.role))
    services = Services.open(Databases.under(args.dir), _faults(args))
    run = _orchestrated if args.mode == "orchestrated" else _choreography
    try:
        asyncio.run(run(args, services, roles))
    except KeyboardInterrupt:
        pass
    finally:
        services.close()


if __name__ == "__main__":
    main()

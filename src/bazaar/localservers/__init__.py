"""Real servers (PostgreSQL, Redis, Memcached, NATS, and Bazaar's own ``bazaar up``) started
from the machine's installed binaries on random loopback ports, in a private directory,
stopped on exit.

Used by the tests, the benchmarks and the lab, so that every measurement runs against the
real thing. Nothing here is a fake: if a binary is missing, :class:`ServerUnavailable` says
which Debian package provides it.
"""

from bazaar.localservers._servers import (
    LocalServer,
    ServerUnavailable,
    memcached,
    nats,
    pg_bindir,
    postgres,
    redis,
)
from bazaar.localservers._shop import ShopProcess, bazaar_up
from bazaar.processes import free_port

__all__ = [
    "LocalServer",
    "ServerUnavailable",
    "ShopProcess",
    "bazaar_up",
    "free_port",
    "memcached",
    "nats",
    "pg_bindir",
    "postgres",
    "redis",
]

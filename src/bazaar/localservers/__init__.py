"""Real servers (PostgreSQL, Redis, Memcached, NATS) started from the machine's installed
binaries on random loopback ports, in a private directory, stopped on exit.

Used by the tests, the benchmarks and the lab, so that every measurement runs against the
real thing. Nothing here is a fake: if a binary is missing, :class:`ServerUnavailable` says
which Debian package provides it.
"""

from bazaar.localservers._servers import (
    LocalServer,
    ServerUnavailable,
    free_port,
    memcached,
    nats,
    postgres,
    redis,
)

__all__ = [
    "LocalServer",
    "ServerUnavailable",
    "free_port",
    "memcached",
    "nats",
    "postgres",
    "redis",
]

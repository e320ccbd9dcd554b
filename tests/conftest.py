"""Shared fixtures: real servers started by the test session on random loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bazaar import localservers


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[localservers.LocalServer]:
    """A real PostgreSQL cluster for the whole session; tests make their own databases/schemas."""
    with localservers.postgres() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[localservers.LocalServer]:
    with localservers.redis() as server:
        yield server


@pytest.fixture(scope="session")
def memcached_server() -> Iterator[localservers.LocalServer]:
    with localservers.memcached() as server:
        yield server

from __future__ import annotations

import socket

import psycopg
import redis as redis_lib

from bazaar.localservers import LocalServer


def test_postgres_answers(postgres_server: LocalServer) -> None:
    with psycopg.connect(postgres_server.extra["dsn"]) as conn:
        assert conn.execute("select 1 + 1").fetchone() == (2,)


def test_redis_answers(redis_server: LocalServer) -> None:
    assert redis_lib.Redis.from_url(redis_server.url).ping()


def test_memcached_answers(memcached_server: LocalServer) -> None:
    with socket.create_connection((memcached_server.host, memcached_server.port)) as s:
        s.sendall(b"version\r\n")
        assert s.recv(100).startswith(b"VERSION")

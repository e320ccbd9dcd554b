"""Topology specs and the generated nginx config, without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from bazaar.cluster import Balancer, ClusterError, NotBuilt, render, spec_for


def test_defaults_per_topology() -> None:
    assert spec_for("single").app_servers == 1
    assert spec_for("split").has_postgres and not spec_for("split").has_balancer
    cluster = spec_for("cluster")
    assert (cluster.app_servers, cluster.replicas, cluster.has_balancer) == (2, 0, True)
    replicas = spec_for("replicas", app_servers=3)
    assert (replicas.app_servers, replicas.replicas) == (3, 2)
    shards = spec_for("shards")
    assert (shards.shards, shards.logical_shards, shards.app_servers) == (2, 64, 0)
    assert not shards.has_postgres and not shards.has_balancer  # its servers are its own
    assert spec_for("shards", shards=3).shards == 3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"topology": "mesh"}, "unknown topology"),
    ({"topology": "split", "app_servers": 2}, "one app server"),
    ({"topology": "cluster", "app_servers": 0}, "--app-servers"),
    ({"topology": "cluster", "app_servers": 10**9}, "--app-servers"),
    ({"topology": "cluster", "replicas": 2}, "--replicas belongs"),
    ({"topology": "replicas", "replicas": 99}, "--replicas must be"),
    ({"topology": "replicas", "standby_delay_ms": -1}, "--standby-delay-ms"),
    ({"topology": "split", "standby_delay_ms": 10}, "belongs"),
    ({"topology": "cluster", "shards": 4}, "--shards belongs"),
    ({"topology": "shards", "shards": 0}, "--shards must be"),
    ({"topology": "shards", "shards": 99}, "--shards must be"),
    ({"topology": "shards", "app_servers": 2}, "no app server yet"),
])
def test_bad_counts_are_clear_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ClusterError, match=message):
        spec_for(**kwargs)  # type: ignore[arg-type]


def test_later_steps_say_they_are_not_built() -> None:
    for topology in ("cached", "services"):
        with pytest.raises(NotBuilt, match="not built yet"):
            spec_for(topology)


def test_nginx_config_balances_least_connections_and_retries_idempotent_requests(
        tmp_path: Path) -> None:
    text = render(Balancer(8080, (("127.0.0.1", 9001), ("127.0.0.1", 9002)), tmp_path,
                           tmp_path / "logs", max_fails=2, fail_timeout_s=7))
    upstream = text.split("upstream bazaar_app {", 1)[1].split("}", 1)[0]
    assert "least_conn;" in upstream
    assert "server 127.0.0.1:9001 max_fails=2 fail_timeout=7s;" in upstream
    assert "server 127.0.0.1:9002 max_fails=2 fail_timeout=7s;" in upstream
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in text
    assert "non_idempotent" not in text  # a POST that reached a server is never resent
    assert "listen 127.0.0.1:8080;" in text  # no reuseport: a taken port fails loudly
    assert "location = /.bazaar-balancer" in text
    assert f"pid {tmp_path / 'nginx.pid'};" in text
    with pytest.raises(ValueError):
        render(Balancer(8080, (), tmp_path, tmp_path))

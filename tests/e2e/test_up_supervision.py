"""``bazaar up`` as a user runs it: a killed service is restarted and ``/health`` says what is
down meanwhile; ``GET /`` lists the running services; one ``up`` per data directory; a busy
port is named before anything starts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from bazaar.localservers import bazaar_up
from bazaar.processes import eventually, free_port


def _service_pids(parent: int) -> dict[int, str]:
    found: dict[int, str] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
            cmdline = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(parent) and fields.get("State", "")[:1] != "Z":
            found[int(status.parent.name)] = cmdline
    return found


def _orchestrator(parent: int) -> int:
    pids = [pid for pid, cmd in _service_pids(parent).items() if " flow serve " in cmd]
    assert len(pids) == 1, _service_pids(parent)
    return pids[0]


def test_a_killed_orchestrator_is_restarted_and_health_names_it_meanwhile(
        tmp_path: Path) -> None:
    with bazaar_up(tmp_path / "data", env={"BAZAAR_SEED_DEMO": "false"}) as shop:
        health = httpx.get(f"{shop.url}/health").json()
        assert health["status"] == "ok" and health["services"]["orchestrator"] == "up"
        index = httpx.get(f"{shop.url}/")  # no credentials: the index is public
        assert index.status_code == 200
        services = index.json()["services"]
        assert services["orchestrator"]["url"].startswith("http://127.0.0.1:")
        assert services["broker"]["url"].startswith("kafka://127.0.0.1:")
        assert services["saga-payment"] == {"url": None, "state": "up", "metrics": None}
        assert httpx.get(f"{services['orchestrator']['url']}/api/health").status_code == 200
        # Every service that listens serves Prometheus metrics, listed in the index.
        broker_metrics = httpx.get(services["broker"]["metrics"]).text
        assert "bazaar_broker_requests_total" in broker_metrics
        flow_metrics = httpx.get(services["orchestrator"]["metrics"]).text
        assert ('bazaar_http_requests_total{method="GET",route="/api/health",status="200"}'
                in flow_metrics)
        assert index.json()["links"]["metrics"] == f"{shop.url}/metrics"
        httpx.get(f"{shop.url}/products/1")  # 401: counted all the same
        metrics = httpx.get(f"{shop.url}/metrics")  # public, like /health
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert ('bazaar_http_requests_total{method="GET",route="/health",status="200"}'
                in metrics.text)
        assert ('bazaar_http_requests_total{method="GET",route="/products/{product_id:int}",'
                'status="401"} 1.0' in metrics.text)
        assert 'bazaar_cache_database_queries_total{kind="products"}' in metrics.text
        assert len(index.headers["x-request-id"]) == 20

        first = _orchestrator(shop.process.pid)
        os.kill(first, signal.SIGKILL)
        down = eventually(lambda: (r := httpx.get(f"{shop.url}/health")).status_code == 503
                          and r, timeout=10, interval=0.01, what="/health saying 503")
        assert "orchestrator" in down.json()["down"]
        assert down.json()["services"]["orchestrator"] in ("restarting", "starting")
        eventually(lambda: httpx.get(f"{shop.url}/health").status_code == 200, timeout=60,
                   what="the orchestrator back")
        assert _orchestrator(shop.process.pid) != first
        out = shop.output()
        assert f"warning: orchestrator exited with -{signal.SIGKILL}; restarting in" in out
        assert "orchestrator is up again" in out
        log = (tmp_path / "data" / "logs" / "orchestrator.log").read_text()
        assert "--- supervisor" in log and "restarting in" in log


def test_a_second_up_on_one_data_dir_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with bazaar_up(data, "--no-services", env={"BAZAAR_SEED_DEMO": "false"}) as first:
        second = subprocess.run(
            [sys.executable, "-m", "bazaar.cli", "up", "--port", "0", "--data-dir", str(data),
             "--no-services"], capture_output=True, text=True, timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")})
        assert second.returncode == 1
        assert (f"error: the shop's data directory {data} is in use by process "
                f"{first.process.pid}") in second.stderr
        assert httpx.get(f"{first.url}/health").status_code == 200  # the first one is fine


def test_a_busy_api_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
        env.update(BAZAAR_BROKER_PORT=str(free_port()), BAZAAR_FLOW_PORT=str(free_port()))
        run = subprocess.run(
            [sys.executable, "-m", "bazaar.cli", "up", "--port", str(port), "--data-dir",
             str(tmp_path / "data")], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 2
    assert f"the API's port 127.0.0.1:{port} is not available" in run.stderr
    assert "database:" not in run.stdout  # nothing was migrated or started
    assert not (tmp_path / "data" / "logs").exists()


def test_busy_service_ports_are_all_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as broker, socket.socket() as flow:
        for s in (broker, flow):
            s.bind(("127.0.0.1", 0))
            s.listen()
        bp, fp = broker.getsockname()[1], flow.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BAZAAR_")}
        env.update(BAZAAR_BROKER_PORT=str(bp), BAZAAR_FLOW_PORT=str(fp))
        run = subprocess.run(
            [sys.executable, "-m", "bazaar.cli", "up", "--port", "0", "--data-dir",
             str(tmp_path / "data")], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 1
    assert f"port in use: broker 127.0.0.1:{bp}, orchestrator 127.0.0.1:{fp}" in run.stderr
    assert "database:" not in run.stdout
    assert not (tmp_path / "data" / "logs").exists()


def _checkout_state(url: str, auth: dict[str, str], order_id: int) -> dict[str, object]:
    state: dict[str, object] = httpx.get(f"{url}/orders/{order_id}/checkout",
                                         headers=auth, timeout=10).json()
    return state


def test_a_checkout_while_the_orchestrator_is_down_says_not_started_not_pending(
        tmp_path: Path) -> None:
    """Issue 10: checkouts started while the orchestrator was down got 503, and
    ``GET /orders/{id}/checkout`` then said ``pending`` for ever. It says ``not_started``
    and why — also once the orchestrator is back — and a new checkout then completes."""
    data = tmp_path / "data"
    with bazaar_up(data) as shop:
        url = shop.url
        password = (data / "demo-password").read_text().strip()
        token = httpx.post(f"{url}/auth/token", data={"username": "demo",
                                                      "password": password}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        refused: tuple[int, httpx.Response] | None = None
        for _ in range(3):  # the restart can win the race to the checkout: kill again
            order = httpx.post(f"{url}/orders", headers=auth, timeout=10,
                               json={"lines": [{"product_id": 1, "quantity": 1}]}).json()
            os.kill(_orchestrator(shop.process.pid), signal.SIGKILL)
            eventually(lambda: httpx.get(f"{url}/health").status_code == 503, timeout=10,
                       interval=0.01, what="/health saying the orchestrator is down")
            started = httpx.post(f"{url}/orders/{order['id']}/checkout", headers=auth,
                                 timeout=30)
            if started.status_code == 503:
                refused = order["id"], started
                break
            assert started.status_code == 202, started.text
            eventually(lambda: httpx.get(f"{url}/health").status_code == 200, timeout=60,
                       what="the orchestrator back")
        assert refused is not None, "the orchestrator was never down at the checkout"
        order_id, started = refused
        assert started.headers["retry-after"], started.headers
        state = _checkout_state(url, auth, order_id)
        assert state["status"] == "not_started", state
        assert "unreachable" in str(state["reason"]), state
        eventually(lambda: httpx.get(f"{url}/health").status_code == 200, timeout=60,
                   what="the orchestrator back")
        # Back up: still not_started (nothing runs for it), never pending.
        assert _checkout_state(url, auth, order_id)["status"] == "not_started"
        again = httpx.post(f"{url}/orders/{order_id}/checkout", headers=auth, timeout=30)
        assert again.status_code == 202, again.text
        done = eventually(lambda: (s := _checkout_state(url, auth, order_id))["status"]
                          not in ("pending", "not_started") and s, timeout=90,
                          what="the second checkout finished")
        assert done["status"] == "completed", done

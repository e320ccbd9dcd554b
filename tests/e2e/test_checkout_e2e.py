"""`bazaar up` runs the whole checkout: the shop, the embedded broker, the orchestrator or the
choreography, and the saga's services as real processes; a user checks out over HTTP."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bazaar.localservers import bazaar_up


@pytest.fixture(params=["orchestration", "choreography"], scope="module")
def shop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp(f"checkout-{request.param}") / "data"
    with bazaar_up(data, env={"BAZAAR_CHECKOUT": request.param}) as running:
        yield running.url, data
        assert running.interrupt() == 0, running.output()
        assert "stopped." in running.output()


def _login(url: str, name: str) -> dict[str, str]:
    httpx.post(f"{url}/users", json={"username": name, "password": "correct horse"})
    token = httpx.post(f"{url}/auth/token",
                       data={"username": name, "password": "correct horse"}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_checkout_completes_through_the_real_services(shop: tuple[str, Path]) -> None:
    url, data = shop
    auth = _login(url, "buyer")
    stock_before = httpx.get(f"{url}/products/2", headers=auth).json()["stock"]
    order = httpx.post(f"{url}/orders", headers=auth,
                       json={"lines": [{"product_id": 2, "quantity": 3}]}).json()
    started = httpx.post(f"{url}/orders/{order['id']}/checkout", headers=auth)
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 60
    while True:
        status = httpx.get(f"{url}/orders/{order['id']}/checkout", headers=auth).json()
        if status["status"] in ("completed", "failed"):
            break
        assert time.monotonic() < deadline, f"checkout stuck: {status}"
        time.sleep(0.2)
    assert status == {"order_id": order["id"], "status": "completed", "reason": None}
    # The order shipped: it reads fulfilled (at once when orchestrated, as soon as the shop
    # consumes ShipmentCreated when choreographed), cannot be cancelled, its stock stays taken.
    while httpx.get(f"{url}/orders/{order['id']}", headers=auth).json()["status"] != "fulfilled":
        assert time.monotonic() < deadline, "the completed order never read fulfilled"
        time.sleep(0.2)
    assert httpx.post(f"{url}/orders/{order['id']}/cancel", headers=auth).status_code == 409
    assert httpx.get(f"{url}/products/2", headers=auth).json()["stock"] == stock_before - 3
    logs = {p.stem for p in (data / "logs").glob("*.log")}
    assert {"broker", "saga-payment", "saga-shipping", "saga-inventory"} <= logs


def test_checkout_of_someone_elses_order_is_404(shop: tuple[str, Path]) -> None:
    url, _ = shop
    owner = _login(url, "owner")
    other = _login(url, "other")
    order = httpx.post(f"{url}/orders", headers=owner,
                       json={"lines": [{"product_id": 1, "quantity": 1}]}).json()
    response = httpx.post(f"{url}/orders/{order['id']}/checkout", headers=other)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def _children(pid: int) -> set[int]:
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            found.add(int(status.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_killing_bazaar_up_takes_its_services_with_it(tmp_path: Path) -> None:
    with bazaar_up(tmp_path / "data") as running:
        children = _children(running.process.pid)
        assert len(children) >= 5, "broker, orchestrator and the saga services run as children"
        running.process.send_signal(signal.SIGKILL)
        running.process.wait()
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in children):
            assert time.monotonic() < deadline, "services outlived a killed bazaar up"
            time.sleep(0.2)


def _race_pair(url: str, auth: dict[str, str], order_id: int, cancel_first: bool,
               delay_s: float) -> tuple[int, int]:
    """POST checkout and POST cancel for one order from two threads, ``delay_s`` apart."""
    import threading

    results: dict[str, int] = {}
    go = threading.Barrier(2)

    def send(what: str, wait: float) -> None:
        with httpx.Client(headers=auth, timeout=30) as client:
            go.wait()
            if wait:
                time.sleep(wait)  # the race's offset, not synchronisation
            results[what] = client.post(f"{url}/orders/{order_id}/{what}").status_code

    threads = [threading.Thread(target=send, args=("checkout", delay_s if cancel_first else 0)),
               threading.Thread(target=send, args=("cancel", 0 if cancel_first else delay_s))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results["checkout"], results["cancel"]


def test_racing_checkouts_and_cancels_never_both_win(shop: tuple[str, Path]) -> None:
    from bazaar.flow.checkout.services import Databases, Services

    url, data = shop
    auth = _login(url, "racer")
    product = 7  # wool socks: 200 in stock, used by no other test here (≤ 200 pairs)
    before = httpx.get(f"{url}/products/{product}", headers=auth).json()["stock"]
    outcomes: dict[int, tuple[int, int]] = {}
    for i in range(int(os.environ.get("BAZAAR_RACE_PAIRS", "24"))):  # more by hand
        order = httpx.post(f"{url}/orders", headers=auth,
                           json={"lines": [{"product_id": product, "quantity": 1}]}).json()
        outcomes[order["id"]] = _race_pair(url, auth, order["id"], cancel_first=i % 2 == 1,
                                           delay_s=(0.0, 0.005, 0.02, 0.05)[i % 4])
    for oid, (checkout, cancel) in outcomes.items():
        assert (checkout, cancel) in ((202, 409), (409, 200)), (oid, checkout, cancel)
    deadline = time.monotonic() + 90
    states: dict[int, dict[str, object]] = {}
    for oid in outcomes:
        while True:
            states[oid] = httpx.get(f"{url}/orders/{oid}/checkout", headers=auth).json()
            if states[oid]["status"] != "pending":
                break
            assert time.monotonic() < deadline, f"checkout of {oid} stuck: {states[oid]}"
            time.sleep(0.1)
    saga = Services.open(Databases.under(data / "saga"))
    try:
        ledger, shipped = saga.provider.entries(), saga.shipping.shipped()
    finally:
        saga.close()
    fulfilled = 0
    for oid, (checkout, _) in outcomes.items():
        status = httpx.get(f"{url}/orders/{oid}", headers=auth).json()
        if checkout == 202:
            assert states[oid]["status"] == "completed", (oid, states[oid])
            assert status["status"] == "fulfilled" and str(oid) in shipped
            assert ledger[f"order:{oid}"] == ("charged", status["total_cents"])
            fulfilled += 1
        else:
            assert states[oid]["status"] == "not_started" and status["status"] == "cancelled"
            assert str(oid) not in shipped and f"order:{oid}" not in ledger
    assert 0 < fulfilled < len(outcomes), "both ways of winning the race were exercised"
    after = httpx.get(f"{url}/products/{product}", headers=auth).json()["stock"]
    assert after == before - fulfilled

"""The link emulator measured from inside its namespaces: round trips, loss and rate match
the settings within a tolerance, settings change live, and nothing is left behind."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bazaar.netem import LinkSpec, Network, available
from bazaar.processes import Child

WHY = available()
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"no link emulation here: {WHY}")
PORT = 9000


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """Hosts a and b, an echo server on b; each test sets the link it measures."""
    work = tmp_path_factory.mktemp("netem")
    with Network(["a", "b"], work, seed=7) as network:
        ready = work / "echo-ready"
        echo = Child(network.argv("b", [sys.executable, "-m", "bazaar.netem.probe", "echo",
                                        network.address("b"), PORT, ready]),
                     name="echo", ready=ready.exists, log=work / "echo.log")
        with echo:
            yield network


def _probe(net: Network, *args: object) -> dict[str, object]:
    out = subprocess.run(net.argv("a", [sys.executable, "-m", "bazaar.netem.probe", *args]),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


def _rtts(result: dict[str, object]) -> list[float]:
    values = result["rtt_ms"]
    assert isinstance(values, list)
    return [v for v in values if v is not None]


def test_round_trip_is_twice_the_delay(net: Network) -> None:
    net.set_all(LinkSpec(delay_ms=10))
    rtts = _rtts(_probe(net, "ping", net.address("b"), PORT, 40, 0.01))
    assert len(rtts) == 40  # no loss set: every datagram comes back
    assert min(rtts) >= 19.9  # never early
    # what the forwarder and the probes add on a loaded machine, measured the same way
    net.set_all(LinkSpec())
    base = statistics.median(_rtts(_probe(net, "ping", net.address("b"), PORT, 40, 0.01)))
    added = statistics.median(rtts) - base
    assert 19.0 <= added <= 25.0, (rtts, base)


def test_jitter_spreads_round_trips_without_reordering(net: Network) -> None:
    net.set_link("a", "b", LinkSpec(delay_ms=10, jitter_ms=5))
    result = _probe(net, "ping", net.address("b"), PORT, 60, 0.02)
    rtts = _rtts(result)
    assert len(rtts) == 60
    # each way 10 ± 5 ms: a round trip within 10..30 ms (a loaded machine only adds), the
    # sum of two uniforms: a tenth of them below 16 ms, which no fixed 20 ms round trip has
    assert min(rtts) >= 9.9, rtts
    deciles = statistics.quantiles(rtts, n=10)
    assert deciles[0] < 16.5 and deciles[-1] > 23.5, deciles


def test_loss_matches_the_setting_and_is_counted(net: Network) -> None:
    net.set_link("a", "b", LinkSpec(delay_ms=1, loss=0.2), reverse=LinkSpec(delay_ms=1))
    before = {(s["src"], s["dst"]): s for s in net.stats()}
    result = _probe(net, "ping", net.address("b"), PORT, 1000, 0.0005)
    received = result["received"]
    assert isinstance(received, int)
    assert 0.15 <= 1 - received / 1000 <= 0.25
    after = {(s["src"], s["dst"]): s for s in net.stats()}
    lost = after[("a", "b")]["lost"] - before[("a", "b")]["lost"]
    assert lost == 1000 - received  # every missing reply is a drop the forwarder counted
    assert after[("b", "a")]["lost"] == 0


def test_rate_limit_caps_tcp_throughput(net: Network) -> None:
    net.set_link("a", "b", LinkSpec(delay_ms=2, rate_mbit=20))
    result = _probe(net, "send", net.address("b"), PORT, 1_500_000)
    assert result["bytes"] == 1_500_000  # TCP over the emulated link delivers everything
    rate = result["mbit_s"]
    assert isinstance(rate, float)
    assert 14.0 <= rate <= 20.5, result


def test_namespaces_and_devices_go_away(tmp_path: Path) -> None:
    network = Network(["x", "y"], tmp_path).start()
    names = [network.netns(h) for h in ("x", "y")]
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert all(n in listed for n in names)
    network.stop()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in names)

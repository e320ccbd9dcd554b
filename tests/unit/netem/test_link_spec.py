"""Link settings: out-of-range values are refused with the setting's name."""

from __future__ import annotations

import pytest

from bazaar.netem import LinkSpec, NetemError, Network


@pytest.mark.parametrize(("kwargs", "word"), [
    ({"delay_ms": -1}, "delay_ms"),
    ({"delay_ms": 5, "jitter_ms": 6}, "jitter_ms"),
    ({"loss": 1.5}, "loss"),
    ({"loss": -0.1}, "loss"),
    ({"rate_mbit": -3}, "rate_mbit"),
    ({"queue_bytes": 10}, "queue_bytes"),
])
def test_bad_settings_are_refused_by_name(kwargs: dict[str, float], word: str) -> None:
    with pytest.raises(NetemError, match=word):
        LinkSpec(**kwargs)  # type: ignore[arg-type]


def test_json_round_trip_and_unknown_keys() -> None:
    spec = LinkSpec(delay_ms=12.5, jitter_ms=1, loss=0.02, rate_mbit=50)
    assert LinkSpec.from_json(spec.to_json()) == spec
    assert spec.describe() == "12.5 ms ±1 ms 2.0% loss 50 Mbit/s"
    with pytest.raises(NetemError, match="unknown link settings: latency"):
        LinkSpec.from_json({"latency": 3})
    with pytest.raises(NetemError, match="bad link settings"):
        LinkSpec.from_json({"delay_ms": "soon"})


def test_host_names_are_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NetemError, match="two distinct"):
        Network(["a", "a"], tmp_path)
    with pytest.raises(NetemError, match="host name"):
        Network(["a", "Bad-Name"], tmp_path)
    net = Network(["a", "b", "c"], tmp_path)
    assert [net.address(h) for h in "abc"] == ["10.77.0.1", "10.77.0.2", "10.77.0.3"]
    assert net.argv("b", ["true"])[:3] == ["ip", "netns", "exec"]
    with pytest.raises(NetemError, match="unknown host 'z'"):
        net.set_link("a", "z", LinkSpec())

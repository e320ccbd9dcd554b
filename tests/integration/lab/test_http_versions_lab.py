"""The http-versions lab at a tiny size: a client and a server host on an emulated 40 ms
link, h2 and h3 page loads at 5% loss (TCP retransmits and QUIC recovery at work); set-up
costs at least the round trips each protocol's handshake needs."""

from __future__ import annotations

from pathlib import Path

import matplotlib  # noqa: F401  (the lab extra draws the plots; ./dev test installs it)
import pytest

from bazaar import lab
from bazaar.netem import available

WHY = available()


@pytest.mark.skipif(WHY is not None, reason=f"no link emulation here: {WHY}")
def test_http_versions_lab_loads_pages_over_h2_and_h3(tmp_path: Path) -> None:
    result = lab.run("http-versions", quick=True, out_dir=tmp_path,
                     params={"rtt_ms": [40], "loss": [0.05], "objects": 5, "repeats": 1,
                             "generations": ["h2", "h3"], "slow_ms": 100})
    summary = result["summary"]
    by = {(e["generation"], e["loss"]): e for e in summary["results"]}
    assert set(by) == {("h2", 0.05), ("h3", 0.05)}
    for (generation, _loss), e in by.items():
        assert e["failed"] == 0, e["errors"]
        # TCP + TLS 1.3 + the request: 3 round trips; QUIC's handshake + the request: 2
        assert e["setup_p50_ms"] >= (3 if generation == "h2" else 2) * 40 * 0.97, e
        # the page, then its objects (one of them 100 ms slow): at least one more trip
        assert e["p50_ms"] >= e["setup_p50_ms"] + 40 + 100 * 0.97, e
    assert len(result["rows"]) == 2
    assert (tmp_path / "http-versions.png").stat().st_size > 0

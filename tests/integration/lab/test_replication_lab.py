"""The replication lab at a tiny size: three PostgreSQL hosts on an emulated network, each
mode measured a little, the cancelled-wait hole reproduced; JSON and PNG written."""

from __future__ import annotations

from pathlib import Path

import matplotlib  # noqa: F401  (the lab extra draws the plots; ./dev test installs it)
import pytest

from bazaar import lab
from bazaar.netem import available

WHY = available()


@pytest.mark.skipif(WHY is not None, reason=f"no link emulation here: {WHY}")
def test_replication_lab_orders_modes_and_shows_the_hole(tmp_path: Path) -> None:
    result = lab.run("replication", quick=True, out_dir=tmp_path,
                     params={"commits": 30, "clients": 4, "each": 4})
    summary = result["summary"]
    assert summary["method"].startswith("userspace TUN forwarder")
    measured = summary["rtt_ms_measured"]
    assert measured["s1"] >= 2.5 and measured["s2"] >= 10.9  # the links' delay is there
    res = summary["results"]
    p50 = {m: res[k]["one_client"]["p50_ms"]
           for m, k in (("all", "all/remote_apply"), ("one", "one/remote_apply"),
                        ("async", "async"))}
    # waiting for the far standby costs at least its round trip; async waits for none
    assert p50["all"] >= 10.9 and p50["all"] > p50["async"]
    # remote_apply on both: a read right after the ack is never stale, on either standby
    assert res["all/remote_apply"]["stale_reads"] == {"s1": 0.0, "s2": 0.0}
    assert res["async"]["stale_reads"]["s2"] > 0.5  # 11 ms away, seldom caught up
    hole = summary["hole"]
    assert hole["acknowledged"] and hole["visible_on_primary"]
    assert hole["notices"] and "canceling wait" in hole["notices"][0]
    assert hole["lost"] and not hole["on_promoted_standby"]
    assert len(result["rows"]) == 3
    assert (tmp_path / "replication.png").stat().st_size > 0

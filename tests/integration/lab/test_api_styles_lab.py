"""``bazaar lab run api-styles`` at a tiny size: every (use case, style) row is measured on the
real shop, and the explainer's comparison shows in the numbers — GraphQL fetches exactly
the fields asked for, REST under-fetches the order history (extra round trips), gRPC's
binary history is the smallest on the wire, SOAP's envelopes the largest of the RPC styles."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from bazaar import lab


def test_the_api_styles_lab_measures_every_style(tmp_path: Path) -> None:
    with open(tmp_path / "out.txt", "w") as out:
        result = lab.run("api-styles", quick=True, out_dir=tmp_path, console=Console(file=out),
                         params={"calls": 4, "rate": 50, "history": 3})
    rows = {(r[0], r[1]): dict(zip(result["columns"], r, strict=True))
            for r in result["rows"]}
    assert len(rows) == 12
    page = {style: rows[("product page", style)] for style in ("REST", "GraphQL", "gRPC",
                                                               "SOAP")}
    assert page["GraphQL"]["fields received"] == page["GraphQL"]["fields needed"] == 3
    assert page["REST"]["over-fetched"] == page["gRPC"]["over-fetched"] == 2
    history = {style: rows[("order history", style)] for style in page}
    assert history["REST"]["round trips"] > 1 and history["REST"]["extra trips"] > 0
    assert all(history[s]["round trips"] == 1 for s in ("GraphQL", "gRPC", "SOAP"))
    wire = {s: history[s]["bytes up"] + history[s]["bytes down"] for s in page}
    assert wire["gRPC"] < wire["GraphQL"] < wire["REST"]
    assert wire["gRPC"] < wire["SOAP"]
    assert all(r["p50 ms"] > 0 and r["server CPU µs/call"] >= 0 for r in rows.values())
    saved = json.loads((tmp_path / "api-styles.json").read_text())
    assert saved["verdict"].startswith("Held")
    assert (tmp_path / "api-styles.png").stat().st_size > 10_000

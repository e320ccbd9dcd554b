from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from bazaar import lab
from bazaar.lab import _registry


def _run(ctx: lab.RunContext) -> lab.Report:
    with ctx.step("counting", total=3) as step:
        for _ in range(3):
            step.advance()

    def plot(fig: Figure) -> None:
        fig.add_subplot().plot([1, 2, 3], [3, 1, 2])

    return lab.Report(columns=["n", "value"], rows=[[1, 0.5], [2, 0.25]],
                      verdict="held", summary={"best": 2}, plot=plot)


EXPERIMENT = lab.Experiment(name="demo", title="Demo", explainer="none",
                            claim="two rows come out", run=_run)


def test_run_writes_json_and_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_registry.REGISTRY, "demo", __name__)
    result = lab.run("demo", quick=True, out_dir=tmp_path)
    on_disk = json.loads((tmp_path / "demo.json").read_text())
    assert on_disk == result
    assert on_disk["rows"] == [[1, 0.5], [2, 0.25]]
    assert on_disk["verdict"] == "held"
    assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_experiment_is_a_clear_error() -> None:
    with pytest.raises(lab.LabError, match="no experiment named 'nope'"):
        lab.load("nope")


def _no_plot(ctx: lab.RunContext) -> lab.Report:
    return lab.Report(columns=["x"], rows=[[1 / 3], [(2, 2.0000004)]], verdict="refuted",
                      summary={3: {"nested": 0.1234567891}})


def test_json_is_rounded_and_keyed_as_text_and_no_plot_means_no_png(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_registry.REGISTRY, "demo", __name__)
    monkeypatch.setattr(sys.modules[__name__], "EXPERIMENT",
                        dataclasses.replace(EXPERIMENT, run=_no_plot))
    result = lab.run("demo", quick=False, out_dir=tmp_path / "new" / "dir")
    assert result["rows"] == [[0.333333], [[2, 2.0]]]
    assert result["summary"] == {"3": {"nested": 0.123457}}
    assert (result["verdict"], result["quick"], result["claim"]) == (
        "refuted", False, "two rows come out")
    assert sorted(p.name for p in (tmp_path / "new" / "dir").iterdir()) == ["demo.json"]

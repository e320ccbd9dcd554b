"""What ``bazaar up`` runs for the shop's events and the pipeline, and ``--no-pipeline``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bazaar.config import Settings
from bazaar.supervisor import service_specs, with_service_ports


def test_up_runs_the_relay_the_ingester_and_the_dashboard_unless_told_not_to(
        tmp_path: Path) -> None:
    settings = with_service_ports(Settings(data_dir=tmp_path, broker_port=0, flow_port=0,
                                           dashboard_port=0))
    specs = {s.name: s for s in service_specs(settings)}
    assert {"shop-events", "pipeline-ingest", "pipeline-dashboard"} <= set(specs)
    dashboard = specs["pipeline-dashboard"]
    assert dashboard.ready_port == settings.dashboard_port != 0
    assert dashboard.url == f"http://127.0.0.1:{settings.dashboard_port}/dashboard"
    ingest = specs["pipeline-ingest"].argv
    assert ingest[ingest.index("--bootstrap") + 1] == f"127.0.0.1:{settings.broker_port}"
    assert ingest[ingest.index("--dir") + 1] == str((tmp_path / "pipeline").resolve())
    off = {s.name for s in service_specs(settings.model_copy(update={"pipeline": False}))}
    assert "shop-events" in off and not {"pipeline-ingest", "pipeline-dashboard"} & off


def test_up_names_the_missing_pipeline_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the pipeline extra, `bazaar up` runs the shop with the pipeline off and says
    which module is missing (instead of crash-looping an ingester that cannot import)."""
    import importlib.util

    from bazaar import bootstrap

    assert bootstrap.pipeline_missing() is None  # the dev extra has it
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "duckdb" else real(name, *a))
    assert bootstrap.pipeline_missing() == "duckdb"

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from bazaar.config import Settings
from bazaar.supervisor import (
    ServiceFailed,
    ServiceSpec,
    Supervisor,
    service_specs,
    settings_env,
    with_service_ports,
)


def test_settings_survive_the_trip_through_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path, checkout="choreography", broker_port=0,
                        master_key="c2VjcmV0", seed_demo=False)  # type: ignore[arg-type]
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    again = Settings()
    assert again == settings
    assert again.master_key is not None and again.master_key.get_secret_value() == "c2VjcmV0"


def test_port_zero_is_settled_and_the_flow_url_follows(tmp_path: Path) -> None:
    settled = with_service_ports(Settings(data_dir=tmp_path, broker_port=0, flow_port=0))
    assert settled.broker_port > 0 and settled.flow_port > 0
    assert settled.flow_url == f"http://127.0.0.1:{settled.flow_port}"


def test_specs_follow_the_checkout_mode(tmp_path: Path) -> None:
    orchestrated = [s.name for s in service_specs(Settings(data_dir=tmp_path))]
    assert orchestrated[:2] == ["broker", "orchestrator"]
    choreo = [s.name for s in service_specs(Settings(data_dir=tmp_path,
                                                     checkout="choreography"))]
    assert "orchestrator" not in choreo and choreo[0] == "broker"
    external = service_specs(Settings(data_dir=tmp_path, kafka_bootstrap="kafka:9092",
                                      checkout="choreography"))
    assert "broker" not in [s.name for s in external]
    assert all("kafka:9092" in s.argv for s in external if "choreography" in s.argv)


def test_a_busy_port_is_a_clear_error_and_starts_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        supervisor = Supervisor(Settings(data_dir=tmp_path), tmp_path / "logs")
        with pytest.raises(ServiceFailed, match=f"port {port} is already in use"):
            supervisor.start(ServiceSpec("x", [sys.executable, "-c", "pass"], ready_port=port))
        assert supervisor.pids() == {}


def test_a_child_that_dies_before_ready_reports_its_log(tmp_path: Path) -> None:
    supervisor = Supervisor(Settings(data_dir=tmp_path), tmp_path / "logs")
    spec = ServiceSpec("dies", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
                       ready_port=1, ready_timeout_s=10)
    try:
        with pytest.raises(ServiceFailed, match=r"dies exited with 3[\s\S]*boom"):
            supervisor.start(spec)
    finally:
        supervisor.stop()

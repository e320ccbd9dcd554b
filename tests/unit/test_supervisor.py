from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from bazaar.config import Settings
from bazaar.processes import eventually, free_port
from bazaar.supervisor import (
    RestartPolicy,
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
        with pytest.raises(ServiceFailed, match=f"port in use: x 127.0.0.1:{port}"):
            supervisor.start(ServiceSpec("x", [sys.executable, "-c", "pass"], ready_port=port))
        assert supervisor.pids() == {}


def test_every_busy_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as a, socket.socket() as b:
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
            s.listen()
        pa, pb = a.getsockname()[1], b.getsockname()[1]
        supervisor = Supervisor(Settings(data_dir=tmp_path), tmp_path / "logs")
        specs = [ServiceSpec("free", [sys.executable, "-c", "pass"], ready_port=free_port()),
                 ServiceSpec("broker", [sys.executable, "-c", "pass"], ready_port=pa),
                 ServiceSpec("orchestrator", [sys.executable, "-c", "pass"], ready_port=pb)]
        with pytest.raises(ServiceFailed, match=rf"broker 127.0.0.1:{pa}, orchestrator "
                                                rf"127.0.0.1:{pb}"):
            supervisor.check_ports(specs)
        assert supervisor.states() == {}


def test_a_child_that_dies_before_ready_reports_its_log(tmp_path: Path) -> None:
    supervisor = Supervisor(Settings(data_dir=tmp_path), tmp_path / "logs")
    spec = ServiceSpec("dies", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
                       ready_port=1, ready_timeout_s=10)
    try:
        with pytest.raises(ServiceFailed, match=r"dies exited with 3[\s\S]*boom"):
            supervisor.start(spec)
    finally:
        supervisor.stop()


_SLEEPER = [sys.executable, "-c", "import time; print('serving', flush=True); time.sleep(120)"]


def test_a_child_killed_by_9_is_restarted_and_said_so(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = Supervisor(Settings(data_dir=tmp_path), tmp_path / "logs", said.append,
                            RestartPolicy(backoff_s=0.05, limit=3, window_s=30))
    try:
        supervisor.start(ServiceSpec("sleeper", _SLEEPER))
        supervisor.watch(interval_s=0.02)
        first = supervisor.pids()["sleeper"]
        log_path = tmp_path / "logs" / "sleeper.log"
        eventually(lambda: "serving" in log_path.read_text(), timeout=10)
        os.kill(first, signal.SIGKILL)
        eventually(lambda: supervisor.pids().get("sleeper", first) != first
                   and supervisor.states()["sleeper"] == "up", timeout=10,
                   what="a restarted sleeper")
        assert said[0].startswith(f"warning: sleeper exited with -{signal.SIGKILL}; "
                                  "restarting in 0.05s (restart 1 of at most 3 in 30s")
        assert said[1].startswith("sleeper is up again (pid ")
        log = eventually(lambda: (text := log_path.read_text()).count("serving") == 2 and text,
                         timeout=10, what="both runs in the same log")
        assert "--- supervisor" in log and "restarting in 0.05s" in log
    finally:
        supervisor.stop()
    assert supervisor.states() == {}


def test_a_crash_loop_is_given_up_on_and_reported(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = Supervisor(Settings(data_dir=tmp_path), tmp_path / "logs", said.append,
                            RestartPolicy(backoff_s=0.01, max_backoff_s=0.04, limit=3,
                                          window_s=60))
    crashing = [sys.executable, "-c", "import sys, time; time.sleep(0.2); sys.exit(7)"]
    try:
        supervisor.start(ServiceSpec("crasher", crashing))
        supervisor.start(ServiceSpec("steady", _SLEEPER))
        supervisor.watch(interval_s=0.02)
        eventually(lambda: supervisor.states()["crasher"] == "failed", timeout=20,
                   what="giving up on the crash loop")
        assert supervisor.down() == ["crasher"]
        assert said[-1] == ("error: crasher exited with 7 and crashed 4 times in 60s; giving "
                            f"up on it (log {tmp_path / 'logs' / 'crasher.log'})")
        delays = [line.split("restarting in ")[1].split("s ")[0] for line in said
                  if "restarting in" in line]
        assert delays == ["0.01", "0.02", "0.04"]  # doubling, capped
    finally:
        supervisor.stop()


def test_backoff_resets_after_a_child_stays_up_for_the_window(tmp_path: Path) -> None:
    said: list[str] = []
    policy = RestartPolicy(backoff_s=1, limit=10, window_s=5)
    supervisor = Supervisor(Settings(data_dir=tmp_path), tmp_path / "logs", said.append, policy)
    try:
        supervisor.start(ServiceSpec("sleeper", _SLEEPER))
        # Drive the clock by hand: two quick crashes double the delay, a long run resets it.
        clock = 1000.0
        for expected in ("1", "2"):
            supervisor.pids()  # still there
            os.kill(supervisor.pids()["sleeper"], signal.SIGKILL)
            eventually(lambda: not supervisor._services[0].child.alive, timeout=5)
            supervisor.tick(clock)
            assert said[-1].startswith(f"warning: sleeper exited with -9; restarting in "
                                       f"{expected}s")
            clock += float(expected)
            supervisor.tick(clock)  # restart
            eventually(lambda: supervisor._services[0].child.is_ready(), timeout=5)
            supervisor.tick(clock)  # up
            assert supervisor.states()["sleeper"] == "up"
        clock += policy.window_s  # up for the whole window
        os.kill(supervisor.pids()["sleeper"], signal.SIGKILL)
        eventually(lambda: not supervisor._services[0].child.alive, timeout=5)
        supervisor.tick(clock)
        assert said[-1].startswith("warning: sleeper exited with -9; restarting in 1s")
    finally:
        supervisor.stop()

"""The orchestrator's HTTP API against its own ``/openapi.json``: schemathesis, all checks,
against the orchestrator as it runs (``python -m bazaar.flow.orchestrator`` on SQLite, a
definition registered and an execution running so that the fuzzer reaches more than 404s) —
no server error, no answer that breaks the document, no valid request refused and no
invalid one accepted (beyond the rules ``schemathesis.toml`` names); and the bounds the
document states are the ones a request meets."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.fuzz import fuzz
from tests.support.orchestrator import OrchestratorProcess

DEFINITION = {"name": "fuzzed", "tasks": [{"ref": "one", "name": "step_one"},
                                          {"ref": "two", "name": "step_two"}]}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OrchestratorProcess,
                                                                     str, Path]]:
    tmp = tmp_path_factory.mktemp("flow-fuzz")
    with OrchestratorProcess(tmp / "flow.db", log=tmp / "flow.log") as running:
        running.register([DEFINITION])
        started = httpx.post(f"{running.url}/api/workflows/fuzzed/start",
                             json={"input": {"n": 1}}, timeout=10)
        assert started.status_code == 201, started.text
        yield running, started.json()["id"], tmp / "flow.log"


def test_schemathesis_finds_nothing_in_the_orchestrator_api(
        node: tuple[OrchestratorProcess, str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    running, execution, log = node
    monkeypatch.setenv("FLOW_WORKFLOW", "fuzzed")   # read by schemathesis.toml
    monkeypatch.setenv("FLOW_EXECUTION", execution)
    report = fuzz(f"{running.url}/openapi.json", tmp_path / "report", max_examples=15,
                  config=Path(__file__).with_name("schemathesis.toml"))
    assert report.test_cases.get("generated", 0) > 500, report.summary()
    assert report.clean, report.summary()
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]
    assert os.environ["FLOW_EXECUTION"] == execution


def test_the_documented_bounds_are_the_enforced_ones(
        node: tuple[OrchestratorProcess, str, Path]) -> None:
    running, _, _ = node
    document = httpx.get(f"{running.url}/openapi.json", timeout=10).json()
    poll = document["paths"]["/api/tasks/poll/{queue}"]["get"]
    bounds = {p["name"]: p["schema"] for p in poll["parameters"]}
    assert bounds["wait_s"]["maximum"] == 30 and bounds["count"]["minimum"] == 1
    assert document["paths"]["/api/workflows/{name}/start"]["post"]["responses"].keys() >= {
        "200", "201", "404", "409", "422"}
    with httpx.Client(base_url=f"{running.url}/api", timeout=10) as api:
        for url, field in [("/tasks/poll/q?worker=w&wait_s=31", "wait_s"),
                           ("/tasks/poll/q?worker=w&count=0", "count"),
                           ("/tasks/poll/q?worker=w&count=1&count=2", "count"),
                           ("/tasks/poll/batch/q?timeout=30001", "timeout"),
                           (f"/executions?limit={2**70}", "limit"),
                           ("/executions?status=SLEEPING", "status"),
                           (f"/tasks/poll/{'q' * 256}?worker=w", "queue"),
                           ("/definitions/9bad", "name")]:
            r = api.get(url)
            assert r.status_code == 422, (url, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["field"] == field, (url, r.json())
        for body, field in [({"version": 2**70}, "version"), ({"on_conflict": "x"},
                            "on_conflict"), ({"input": [1]}, "input"), ({"nope": 1}, "nope")]:
            r = api.post("/workflows/fuzzed/start", json=body)
            assert r.status_code == 422 and r.json()["field"] == field, (body, r.text)
        # An integral float is an integer, as JSON Schema says; the input is left as sent.
        r = api.post("/workflows/fuzzed/start", json={"version": 1.0, "input": {"x": 2.0},
                                                      "idempotency_key": "float"})
        assert r.status_code == 201, r.text
        shown = api.get(f"/executions/{r.json()['id']}").json()
        assert shown["input"] == {"x": 2.0} and isinstance(shown["input"]["x"], float)
        r = api.post("/tasks/x/heartbeat", json={"worker": "w", "extend_s": 1e9})
        assert r.status_code == 422 and r.json()["field"] == "extend_s"
        # The fuzzer may have ended the module's execution (terminate is one of the actions
        # it calls on it): pause and resume one of this test's own.
        own = api.post("/workflows/fuzzed/start", json={"input": {"n": 2}})
        assert own.status_code == 201, own.text
        assert api.post(f"/executions/{own.json()['id']}/pause").status_code == 200
        assert api.post(f"/executions/{own.json()['id']}/resume").status_code == 200

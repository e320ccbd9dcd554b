"""The functions frontend against its own ``/openapi.json``: schemathesis, all checks, with
a ``functions:admin`` Bearer token, against the platform as it runs (a subprocess, one
worker host, a function deployed so that the fuzzer reaches more than 404s) — no server
error, no answer that breaks the document, no valid request refused and no invalid one
accepted (beyond the rules ``schemathesis.toml`` names); and the documented bounds are the
ones a request meets (a 400 naming the field, as Lambda answers). Event source mappings
are left out: one would make a poller connect to whatever bootstrap address the fuzzer
wrote (tests/integration/functions covers them)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.integration.functions.conftest import zip_files
from tests.support.fuzz import fuzz

from bazaar.functions import FunctionSpec, ServerProcess, start_server_process

ECHO = "def handler(event, context):\n    return {'got': event}\n"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # The fuzzer sends bad credentials on purpose (a 401 each): a generous failed-login
    # limit keeps its own token usable (the limit is tested in test_functions_frontend_*).
    with start_server_process(tmp_path_factory.mktemp("functions-fuzz"), workers=1,
                              failed_auth_burst=1_000_000) as running:
        with running.client() as client:
            client.create(FunctionSpec("echo"), zip_files({"app.py": ECHO}))
        yield running


def test_the_documented_bounds_are_the_enforced_ones(platform: ServerProcess) -> None:
    document = httpx.get(f"{platform.url}/openapi.json", timeout=10).json()  # no token
    spec = document["components"]["schemas"]["Spec"]["properties"]
    assert (spec["memory_mb"]["minimum"], spec["memory_mb"]["maximum"]) == (32, 10240)
    assert document["security"] == [{"bearer": []}]
    auth = {"Authorization": f"Bearer {platform.token()}"}
    code = base64.b64encode(zip_files({"app.py": ECHO})).decode()
    with httpx.Client(base_url=platform.url, headers=auth, timeout=30) as api:
        # Its own function: the fuzzer may change or delete "echo".
        made = api.post("/functions", json={"spec": {"name": "bounds"}, "code": code})
        assert made.status_code == 201, made.text
        for body, field in [({"spec": {"name": "m", "memory_mb": 20_000}, "code": code},
                             "spec.memory_mb"),
                            ({"spec": {"name": "9bad"}, "code": code}, "spec.name"),
                            ({"spec": {"name": "t", "timeout_s": 0}, "code": code},
                             "spec.timeout_s"),
                            ({"spec": {"name": "x"}, "code": "not base64!"}, "code"),
                            ({"spec": {"name": "x", "cpu": 2}, "code": code}, "spec.cpu")]:
            r = api.post("/functions", json=body)
            assert r.status_code == 400, (body, r.text)
            assert r.json()["title"] == "InvalidParameterValueException"
            assert r.json()["field"] == field, (body, r.json())
        for url, field in [("/functions/bounds/logs?limit=0", "limit"),
                           (f"/functions/bounds/invocations?qualifier={'9' * 30}", "qualifier"),
                           ("/dead-letters?function=a%20b", "function"),
                           (f"/functions/{'n' * 65}/logs", "name")]:
            r = api.request("POST" if "invocations" in url else "GET", url, json={})
            assert r.status_code == 400 and r.json()["field"] == field, (url, r.text)
        r = api.delete(f"/dead-letters/{2**70}")
        assert r.status_code == 400 and r.json()["field"] == "id", r.text
        r = api.post("/dead-letters/redrive", json={"ids": [0]})
        assert r.status_code == 400 and r.json()["field"] == "ids.0", r.text
        # Settings left out keep their value; the change is made.
        r = api.put("/functions/bounds/config", json={"memory_mb": 256.0})
        assert r.status_code == 200 and r.json()["memory_mb"] == 256, r.text
        assert r.json()["timeout_s"] == 3.0
        assert api.post("/functions/bounds/invocations", json={"a": 1}).json() == {
            "got": {"a": 1}}


def test_schemathesis_finds_nothing_in_the_functions_api(
        platform: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNCTION", "echo")  # read by schemathesis.toml
    report = fuzz(f"{platform.url}/openapi.json", tmp_path / "report", max_examples=10,
                  headers={"Authorization": f"Bearer {platform.token()}"},
                  config=Path(__file__).with_name("schemathesis.toml"),
                  exclude_path_regex="^/event-source-mappings$")
    assert report.test_cases.get("generated", 0) > 200, report.summary()
    assert report.clean, report.summary()

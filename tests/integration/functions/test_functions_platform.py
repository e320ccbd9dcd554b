"""The platform end to end over HTTP: deploy, versions, sync and async invokes, faults, 429s."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bazaar.functions import (
    FunctionsClient,
    FunctionSpec,
    InvalidPackage,
    InvalidRequest,
    PayloadTooLarge,
    ResourceNotFound,
    ServerProcess,
    TooManyRequests,
)
from bazaar.processes import eventually


def test_deploy_invoke_warm_and_logs(client: FunctionsClient, faulty_dir: Path) -> None:
    client.deploy(faulty_dir, FunctionSpec("hello"))
    cold = client.invoke("hello", {"kind": "ok", "n": 1}, tail=True)
    warm = client.invoke("hello", {"kind": "ok", "n": 2})
    assert cold.payload == {"echo": {"kind": "ok", "n": 1}, "version": "$LATEST"}
    assert cold.init_duration_ms is not None and warm.init_duration_ms is None
    assert "init ran" in cold.logs and "event ok" in cold.logs
    reports = client.logs("hello", limit=2)
    assert [r["requestId"] for r in reports] == [cold.request_id, warm.request_id]
    assert reports[0]["initDurationMs"] is not None and reports[0]["maxMemoryMB"] > 0
    assert "init ran" not in reports[1]["logs"] and reports[1]["durationMs"] >= 0
    assert "hello" in [f["name"] for f in client.list_functions()]


def test_bad_input_changes_nothing(client: FunctionsClient, faulty: bytes,
                                   make_zip: Callable[[dict[str, str]], bytes]) -> None:
    with pytest.raises(InvalidPackage, match="no handler module"):
        client.create(FunctionSpec("nohandler"), make_zip({"other.py": "x = 1"}))
    with pytest.raises(ResourceNotFound):
        client.get("nohandler")
    with pytest.raises(ResourceNotFound):
        client.invoke("nope", {})
    client.create(FunctionSpec("strict"), faulty)
    raw = httpx.post(f"{client.url}/functions/strict/invocations", content=b"{not json",
                     headers=client.auth_headers())
    assert raw.status_code == 400
    assert raw.headers["content-type"] == "application/problem+json"
    assert raw.json()["title"] == "InvalidParameterValueException"
    bad = httpx.post(f"{client.url}/functions", json={"spec": {"name": "x", "memory_mb": 1},
                                                      "code": base64.b64encode(faulty).decode()},
                     headers=client.auth_headers())
    assert bad.status_code == 400
    with pytest.raises(InvalidRequest):
        client.update_config("strict", {"timeout_s": -1})
    with pytest.raises(InvalidPackage):
        client.update_config("strict", {"handler": "missing.handler"})
    assert client.get("strict")["timeout_s"] == 3.0
    assert client.get("strict")["handler"] == "app.handler"


def test_oversized_events_and_responses_are_refused(
        client: FunctionsClient, make_zip: Callable[[dict[str, str]], bytes]) -> None:
    client.create(FunctionSpec("big"), make_zip(
        {"app.py": "def handler(e, c):\n    return 'x' * e.get('n', 1)\n"}))
    with pytest.raises(PayloadTooLarge):
        client.invoke("big", {"pad": "y" * (7 * 1024 * 1024)})
    response = client.invoke("big", {"n": 7 * 1024 * 1024})
    assert response.error is not None
    assert response.error["errorType"] == "Runtime.ResponseSizeTooLarge"
    assert client.invoke("big", {"n": 3}).payload == "xxx"


def test_module_without_the_handler_function_fails_that_invoke(
        client: FunctionsClient, make_zip: Callable[[dict[str, str]], bytes]) -> None:
    client.create(FunctionSpec("noattr"), make_zip({"app.py": "def other(e, c): pass\n"}))
    response = client.invoke("noattr", {})
    assert response.error is not None
    assert response.error["errorType"] == "Runtime.HandlerNotFound"


@pytest.mark.parametrize("isolation", ["process", "namespace"])
def test_every_fault_fails_alone_and_the_platform_keeps_serving(
        client: FunctionsClient, faulty: bytes, isolation: str) -> None:
    name = f"faulty-{isolation}"
    timeout_s = 2.0
    client.create(FunctionSpec(name, timeout_s=timeout_s, isolation=isolation), faulty)
    expected = {"raise": "ValueError", "hang": "Sandbox.Timedout", "exit": "Runtime.ExitError",
                "sysexit": "Runtime.ExitError", "alloc": "Runtime.OutOfMemory",
                "fork": "BlockingIOError"}
    for kind, error_type in expected.items():
        response = client.invoke(name, {"kind": kind})
        assert response.error is not None, kind
        assert response.error["errorType"] == error_type, (kind, response.error)
        assert response.headers["x-function-error"] == "Unhandled"
        if kind == "exit":  # died mid-invoke: the REPORT still says how long it ran
            assert client.logs(name, limit=1)[0]["durationMs"] > 0
        if kind == "hang":  # the REPORT says how long it really ran: never 10x the timeout
            report = client.logs(name, limit=1)[0]
            assert report["requestId"] == response.request_id
            assert timeout_s * 1000 <= report["durationMs"] <= timeout_s * 1000 + 5000, report
            assert report["maxMemoryMB"] > 1, report  # the runtime's peak, read before the kill
            assert float(response.headers["x-duration-ms"]) == pytest.approx(
                report["durationMs"], abs=0.01)
        assert client.invoke(name, {"kind": "ok"}).payload["echo"] == {"kind": "ok"}
    printed = client.invoke(name, {"kind": "print"})
    assert printed.payload == "printed"
    report = client.logs(name, limit=1)[0]
    assert report["logsTruncated"] and len(report["logs"]) < 200_000


def test_versions_and_aliases(client: FunctionsClient, faulty: bytes,
                              make_zip: Callable[[dict[str, str]], bytes]) -> None:
    client.create(FunctionSpec("versioned"), faulty)
    assert client.publish("versioned") == "1"
    client.set_alias("versioned", "live", "1")
    client.update_code("versioned", make_zip(
        {"app.py": "def handler(e, c):\n    return ['v2', c.function_version]\n"}))
    assert client.invoke("versioned").payload == ["v2", "$LATEST"]
    assert client.invoke("versioned", {"kind": "ok"}, qualifier="live").payload["version"] == "1"
    assert client.publish("versioned") == "2"
    client.set_alias("versioned", "live", "2")
    assert client.invoke("versioned", qualifier="live").payload == ["v2", "2"]
    with pytest.raises(ResourceNotFound):
        client.invoke("versioned", qualifier="9")


def test_concurrency_limit_answers_429(client: FunctionsClient, faulty: bytes) -> None:
    client.create(FunctionSpec("single", concurrency=1, timeout_s=10), faulty)
    client.create(FunctionSpec("closed", concurrency=0), faulty)
    with pytest.raises(TooManyRequests):
        client.invoke("closed", {"kind": "ok"})
    outcomes: list[str] = []

    def call() -> None:
        try:
            client.invoke("single", {"kind": "sleep", "s": 3})
            outcomes.append("ok")
        except TooManyRequests:
            outcomes.append("429")

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["429", "ok"]


def test_async_success_retries_dead_letters_and_redrive(client: FunctionsClient,
                                                        faulty: bytes) -> None:
    client.create(FunctionSpec("events"), faulty)
    ok = [client.invoke_async("events", {"kind": "ok", "i": i}) for i in range(20)]
    bad = client.invoke_async("events", {"kind": "raise"})
    eventually(lambda: len(client.dead_letters("events")) == 1, timeout=30)
    done = {r["requestId"] for r in client.logs("events", 200) if r["error"] is None}
    eventually(lambda: set(ok) <= {r["requestId"] for r in client.logs("events", 200)
                                   if r["error"] is None}, timeout=30)
    tries = [r for r in client.logs("events", 200) if r["requestId"] == bad]
    assert len(tries) == 3 and all(r["invocationType"] == "Event" for r in tries)
    [letter] = client.dead_letters("events")
    assert letter["reason"] == "RetriesExhausted" and letter["attempts"] == 3
    assert letter["error"]["errorType"] == "ValueError"
    assert done <= set(ok)
    with pytest.raises(ResourceNotFound):
        client.redrive(ids=[letter["id"] + 1000])
    assert client.redrive(ids=[letter["id"]]) == 1
    eventually(lambda: len(client.dead_letters("events")) == 1
               and client.dead_letters("events")[0]["id"] != letter["id"], timeout=30)
    with pytest.raises(ResourceNotFound):
        client.invoke_async("missing-function", {})


def test_cli_deploy_invoke_ls_logs_rm(server: ServerProcess, faulty_dir: Path,
                                      tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bazaar.cli import app

    runner = CliRunner()
    # The CLI mints its token from the data dir's keyring, which only this user can read.
    env = {"BAZAAR_FUNCTIONS_URL": server.url, "BAZAAR_DATA_DIR": str(server.data_dir)}
    result = runner.invoke(app, ["functions", "deploy", str(faulty_dir), "--name", "clifn"],
                           env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["functions", "invoke", "clifn", "--event", '{"kind": "ok"}'],
                           env=env)
    assert result.exit_code == 0 and '"echo"' in result.output, result.output
    result = runner.invoke(app, ["functions", "invoke", "clifn", "--event", '{"kind": "raise"}'],
                           env=env)
    assert result.exit_code == 1 and "ValueError" in result.output
    result = runner.invoke(app, ["functions", "invoke", "clifn", "--async"], env=env)
    assert result.exit_code == 0 and "queued" in result.output
    assert "clifn" in runner.invoke(app, ["functions", "ls"], env=env).output
    listed = json.loads(runner.invoke(app, ["functions", "ls", "--json"], env=env).output)
    assert "clifn" in [f["name"] for f in listed]
    assert "init" in runner.invoke(app, ["functions", "logs", "clifn"], env=env).output
    result = runner.invoke(app, ["functions", "invoke", "clifn", "--async", "--event",
                                 '{"kind": "raise"}'], env=env)
    assert result.exit_code == 0, result.output
    eventually(lambda: "RetriesExhausted" in runner.invoke(
        app, ["functions", "dlq", "ls", "--function", "clifn"], env=env).output, timeout=30)
    result = runner.invoke(app, ["functions", "dlq", "redrive", "--function", "clifn"], env=env)
    assert result.exit_code == 0 and "redriven 1" in result.output, result.output
    assert "published clifn version 1" in runner.invoke(
        app, ["functions", "publish", "clifn"], env=env).output
    assert runner.invoke(app, ["functions", "alias", "clifn", "live", "1"], env=env
                         ).exit_code == 0
    assert "slots" in runner.invoke(app, ["functions", "hosts"], env=env).output
    result = runner.invoke(app, ["functions", "invoke", "nope"], env=env)
    assert result.exit_code == 2 and "not found" in result.output
    result = runner.invoke(app, ["functions", "invoke", "clifn", "--event", "{bad"], env=env)
    assert result.exit_code == 2 and "not JSON" in result.output
    result = runner.invoke(app, ["functions", "deploy", str(faulty_dir), "--name", "x",
                                 "--isolation", "firecracker"], env=env)
    assert result.exit_code == 2 and "isolation" in result.output
    assert runner.invoke(app, ["functions", "rm", "clifn"], env=env).exit_code == 0
    assert runner.invoke(app, ["functions", "rm", "clifn"], env=env).exit_code == 2
    only_main = tmp_path / "mainfn"
    only_main.mkdir()
    (only_main / "main.py").write_text("def handler(event, context):\n    return 'main'\n")
    assert runner.invoke(app, ["functions", "deploy", str(only_main)], env=env).exit_code == 0
    result = runner.invoke(app, ["functions", "invoke", "mainfn"], env=env)
    assert result.exit_code == 0 and result.output.strip().endswith('"main"'), result.output
    (only_main / "main.py").rename(only_main / "service.py")
    result = runner.invoke(app, ["functions", "deploy", str(only_main)], env=env)
    assert result.exit_code == 2 and "--handler" in result.output
    result = runner.invoke(app, ["functions", "deploy", str(only_main),
                                 "--handler", "service.handler"], env=env)
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["functions", "rm", "mainfn"], env=env).exit_code == 0
    (only_main / "service.py").write_text(
        "import os\ndef handler(event, context):\n    return os.environ['GREETING']\n")
    result = runner.invoke(app, ["functions", "deploy", str(only_main), "--name", "envfn",
                                 "--handler", "service.handler", "--env", "GREETING=a=b"],
                           env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["functions", "invoke", "envfn"], env=env)
    assert result.output.strip().endswith('"a=b"'), result.output
    for bad, reason in (("GREETING", "KEY=VALUE"), ("AWS_REGION=x", "reserved")):
        result = runner.invoke(app, ["functions", "deploy", str(only_main), "--name", "envfn",
                                     "--handler", "service.handler", "--env", bad], env=env)
        assert result.exit_code == 2 and reason in result.output, result.output
    assert runner.invoke(app, ["functions", "rm", "envfn"], env=env).exit_code == 0
    other = {**env, "BAZAAR_DATA_DIR": str(tmp_path / "elsewhere")}  # another keyring
    result = runner.invoke(app, ["functions", "ls"], env=other)
    assert result.exit_code == 2 and "BAZAAR_FUNCTIONS_TOKEN" in result.output
    token = runner.invoke(app, ["functions", "token"], env=env).output.strip()
    result = runner.invoke(app, ["functions", "ls"], env={**other,
                                                         "BAZAAR_FUNCTIONS_TOKEN": token})
    assert result.exit_code == 0
    assert result.output == runner.invoke(app, ["functions", "ls"], env=env).output
    result = runner.invoke(app, ["functions", "worker", "--control", "/nonexistent/control.sock",
                                 "--no-reconnect"], env=env)
    assert result.exit_code == 2 and "cannot reach the control plane" in result.output

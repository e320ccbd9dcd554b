"""The Lambda Runtime API inside the sandbox, driven by the real, unmodified ``awslambdaric``.

Each test deploys ``lambda_function.handler`` (a handler written for AWS Lambda) into a real
sandbox of both isolations with ``runtime="awslambdaric"``: success with Lambda's context,
a raised error, an init error, a timeout, an oversized response, garbage on the Runtime API
socket.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.integration.functions.conftest import zip_files

from bazaar.functions import (
    FunctionsClient,
    FunctionSpec,
    InvalidRequest,
    PackageStore,
    Sandbox,
    SandboxFailed,
    SandboxLimits,
    SandboxSpec,
)

ISOLATIONS = ["process", "namespace"]
_UIDS = iter(range(300_000_000 + (os.getpid() % 1000) * 1000, 2_000_000_000))

LAMBDA_FUNCTION = '''
import json, os, socket, time
COLD = {"at": time.time()}
print("init ran")


def _raw(data):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(data)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed first
        reply = b""
        try:
            while chunk := s.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
    return reply.split(b"\\r\\n", 1)[0].decode("latin-1")


def handler(event, context):
    kind = event.get("kind", "ok")
    print("event", kind)
    if kind == "ok":
        with open("/tmp/scratch", "w") as f:  # the /tmp contract
            f.write("x")
        return {"request_id": context.aws_request_id, "arn": context.invoked_function_arn,
                "left_ms": context.get_remaining_time_in_millis(),
                "name": context.function_name, "version": context.function_version,
                "memory": context.memory_limit_in_mb, "group": context.log_group_name,
                "custom": context.client_context.custom if context.client_context else None,
                "identity": context.identity.cognito_identity_id if context.identity else None,
                "env": {k: v for k, v in os.environ.items() if k.startswith("AWS_LAMBDA_F")},
                "trace": os.environ.get("_X_AMZN_TRACE_ID", ""), "pid": os.getpid()}
    if kind == "raise":
        raise ValueError("boom")
    if kind == "hang":
        time.sleep(3600)
    if kind == "big":
        return "x" * (7 * 1024 * 1024)
    if kind == "exit":
        os._exit(3)
    if kind == "garbage":
        api = "/2018-06-01/runtime"
        return {
            "binary": _raw(b"\\x00\\xff\\xfe garbage \\x16\\x03\\x01\\r\\n\\r\\n"),
            "unknown": _raw(b"GET /nowhere HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"),
            "wrong_id": _raw(f"POST {api}/invocation/not-this-one/response HTTP/1.1\\r\\n"
                             f"Host: x\\r\\nContent-Length: 2\\r\\n\\r\\n{{}}".encode()),
            "bad_length": _raw(f"POST {api}/invocation/{context.aws_request_id}/response "
                               f"HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: -5\\r\\n\\r\\n"
                               .encode()),
            "half": _raw(f"POST {api}/init/error HTTP/1.1\\r\\nContent-Len".encode()),
        }
    raise KeyError(kind)
'''


def _run(tmp_path: Path, files: dict[str, str], isolation: str,
         body: Callable[[Callable[[], Awaitable[Sandbox]]], Awaitable[None]],
         **spec: Any) -> None:
    store = PackageStore(tmp_path / "store")
    digest = store.put(zip_files(files))
    uid = next(_UIDS)
    settings = {"function": "orders", "version": "3", "digest": digest,
                "handler": "lambda_function.handler", "memory_mb": 256, "timeout_s": 5.0,
                "init_timeout_s": 20.0, "isolation": isolation, "runtime": "awslambdaric",
                **spec}

    async def main() -> None:
        sandboxes: list[Sandbox] = []

        async def start() -> Sandbox:
            sandbox = Sandbox(f"s{len(sandboxes)}", SandboxSpec(**settings),
                              SandboxLimits(max_processes=32, log_cap_bytes=32 * 1024))
            sandboxes.append(sandbox)
            await sandbox.start(store.path(digest), tmp_path / "work", uid)
            return sandbox
        try:
            await body(start)
        finally:
            for sandbox in sandboxes:
                await sandbox.kill()
    asyncio.run(main())


async def _invoke(sandbox: Sandbox, event: dict[str, Any], request_id: str = "req-1",
                  timeout: float = 5.0, **context: str) -> dict[str, Any]:
    return await sandbox.invoke(request_id, json.dumps(event).encode(), timeout, **context)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_lambda_handler_runs_under_awslambdaric_with_lambdas_context(
        tmp_path: Path, isolation: str) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        sandbox = await start()
        client_context = json.dumps({"client": {}, "custom": {"cart": "42"}, "env": {}})
        first = await _invoke(sandbox, {"kind": "ok"}, "req-a", client_context=client_context,
                              cognito_identity=json.dumps({"cognitoIdentityId": "id-7"}))
        assert "error" not in first, first
        result = json.loads(first["payload"])
        assert result["request_id"] == "req-a"
        assert result["arn"] == "arn:aws:lambda:local:000000000000:function:orders:3"
        assert 0 < result["left_ms"] <= 5000
        assert (result["name"], result["version"], result["memory"]) == ("orders", "3", "256")
        assert result["group"] == "/aws/lambda/orders"
        assert result["custom"] == {"cart": "42"} and result["identity"] == "id-7"
        assert result["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
        assert result["trace"].startswith("Root=1-")
        assert "event ok" in first["logs"]
        second = await _invoke(sandbox, {"kind": "ok"}, "req-b")
        warm = json.loads(second["payload"])
        assert warm["request_id"] == "req-b" and warm["pid"] == result["pid"]  # warm start
        assert warm["custom"] is None and warm["identity"] is None
    _run(tmp_path, {"lambda_function.py": LAMBDA_FUNCTION}, isolation, body)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_raised_error_is_reported_as_lambda_reports_it_and_the_sandbox_stays_warm(
        tmp_path: Path, isolation: str) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        sandbox = await start()
        failed = await _invoke(sandbox, {"kind": "raise"}, "req-e")
        error = failed["error"]
        assert error["type"] == "ValueError" and error["message"] == "boom"
        assert any("lambda_function.py" in line and "handler" in line
                   for line in error["trace"]), error["trace"]
        assert "payload" not in failed
        again = await _invoke(sandbox, {"kind": "ok"}, "req-f")
        assert json.loads(again["payload"])["request_id"] == "req-f"
    _run(tmp_path, {"lambda_function.py": LAMBDA_FUNCTION}, isolation, body)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_an_init_error_comes_back_from_the_init_error_endpoint(tmp_path: Path,
                                                               isolation: str) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        with pytest.raises(SandboxFailed) as failed:
            await start()
        assert failed.value.error.type == "Runtime.ImportModuleError"
        assert "No module named 'not_installed_anywhere'" in failed.value.error.message
    _run(tmp_path, {"lambda_function.py": "import not_installed_anywhere\n"}, isolation, body)


def test_a_missing_handler_function_is_an_init_error(tmp_path: Path) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        with pytest.raises(SandboxFailed) as failed:
            await start()
        assert failed.value.error.type == "Runtime.HandlerNotFound"
    _run(tmp_path, {"lambda_function.py": "def other(e, c):\n    return 1\n"}, "process", body)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_hanging_handler_times_out_and_leaves_no_process(tmp_path: Path,
                                                           isolation: str) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        sandbox = await start()
        with pytest.raises(SandboxFailed) as failed:
            await _invoke(sandbox, {"kind": "hang"}, timeout=1.0)
        assert failed.value.error.type == "Sandbox.Timedout"
        # The kill is sent at the deadline; the kernel reaps the sandbox's processes soon after
        # (on a loaded machine, not at once): wait a bounded time for none to be left.
        for _ in range(200):
            if not sandbox.alive and not _processes_of(sandbox.uid):
                break
            await asyncio.sleep(0.05)
        assert not sandbox.alive
        assert _processes_of(sandbox.uid) == []
    _run(tmp_path, {"lambda_function.py": LAMBDA_FUNCTION}, isolation, body)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_an_oversized_response_is_refused_and_reported(tmp_path: Path, isolation: str) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        sandbox = await start()
        answer = await _invoke(sandbox, {"kind": "big"}, "req-big")
        assert "payload" not in answer
        assert answer["error"]["type"] == "Function.ResponseSizeTooLarge"
        assert "6291456 bytes" in answer["error"]["message"]
    _run(tmp_path, {"lambda_function.py": LAMBDA_FUNCTION}, isolation, body)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_garbage_on_the_runtime_api_socket_is_refused_and_the_invoke_still_answers(
        tmp_path: Path, isolation: str) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        sandbox = await start()
        answer = await _invoke(sandbox, {"kind": "garbage"}, "req-g")
        assert "error" not in answer, answer
        replies = json.loads(answer["payload"])
        assert replies["binary"].startswith("HTTP/1.1 400 "), replies
        assert replies["unknown"].startswith("HTTP/1.1 404 "), replies
        assert replies["wrong_id"].startswith("HTTP/1.1 400 "), replies
        assert replies["bad_length"].startswith("HTTP/1.1 400 "), (replies, answer["logs"])
        assert replies["half"].startswith("HTTP/1.1 411 "), replies  # the head was cut short
        after = await _invoke(sandbox, {"kind": "ok"}, "req-h")
        assert json.loads(after["payload"])["request_id"] == "req-h"
    _run(tmp_path, {"lambda_function.py": LAMBDA_FUNCTION}, isolation, body)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_runtime_that_exits_mid_invoke_is_an_exit_error(tmp_path: Path,
                                                         isolation: str) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        sandbox = await start()
        answer = await _invoke(sandbox, {"kind": "exit"})
        assert answer["error"]["type"] == "Runtime.ExitError"
        assert "exit status 3" in answer["error"]["message"]
        assert answer["recycle"] and not sandbox.alive  # the host drops it
    _run(tmp_path, {"lambda_function.py": LAMBDA_FUNCTION}, isolation, body)


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                status = f.read()
        except OSError:
            continue
        if f"\nUid:\t{uid}\t" in status and "\nState:\tZ" not in status:
            pids.append(int(entry))
    return pids


PORTABLE = '''
import os
print("init", os.environ["AWS_LAMBDA_FUNCTION_NAME"])


def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("declined: " + event["fail"])
    path = os.path.join("/tmp", "seen")
    with open(path, "a") as f:  # /tmp survives warm starts
        f.write("x")
    with open(path) as f:
        seen = len(f.read())
    return {"id": context.aws_request_id, "left": context.get_remaining_time_in_millis() > 0,
            "fn": os.environ["AWS_LAMBDA_FUNCTION_NAME"], "seen": seen,
            "arn": context.invoked_function_arn}
'''


@pytest.mark.parametrize(("runtime", "isolation"), [("awslambdaric", "process"),
                                                   ("awslambdaric", "namespace"),
                                                   ("bazaar", "process")])
def test_a_deployed_lambda_handler_runs_unchanged_under_both_bootstraps(
        client: FunctionsClient, runtime: str, isolation: str) -> None:
    name = f"portable-{runtime}-{isolation}"
    client.create(FunctionSpec(name, handler="lambda_function.handler", memory_mb=256,
                               isolation=isolation,  # type: ignore[arg-type]
                               runtime=runtime),  # type: ignore[arg-type]
                  zip_files({"lambda_function.py": PORTABLE}))
    cold = client.invoke(name, {}, tail=True)
    warm = client.invoke(name, {})
    assert cold.error is None, cold.error
    assert cold.payload["id"] == cold.request_id and cold.payload["left"]
    assert cold.payload["fn"] == name and f"function:{name}" in cold.payload["arn"]
    assert (cold.payload["seen"], warm.payload["seen"]) == (1, 2)  # one warm sandbox
    assert cold.init_duration_ms is not None and warm.init_duration_ms is None
    assert f"init {name}" in cold.logs
    failed = client.invoke(name, {"fail": "no stock"})
    assert failed.headers.get("x-function-error") == "Unhandled"
    assert failed.error is not None
    assert (failed.error["errorType"], failed.error["errorMessage"]) == (
        "RuntimeError", "declined: no stock")
    assert any("lambda_function.py" in line for line in failed.error["stackTrace"])
    client.delete(name)


def test_an_awslambdaric_init_error_reaches_the_caller(client: FunctionsClient) -> None:
    client.create(FunctionSpec("ric-broken", handler="lambda_function.handler",
                               runtime="awslambdaric"),
                  zip_files({"lambda_function.py": "raise ImportError('no driver')\n"}))
    response = client.invoke("ric-broken", {})
    assert response.error is not None
    assert response.error["errorType"] == "Runtime.ImportModuleError"
    assert "no driver" in response.error["errorMessage"]
    client.delete("ric-broken")


def test_an_unknown_runtime_is_refused(client: FunctionsClient) -> None:
    with pytest.raises(InvalidRequest, match="runtime must be one of"):
        FunctionSpec("x", runtime="nodejs20.x")  # type: ignore[arg-type]


def _listening_ports_of(uid: int) -> list[int]:
    ports = []
    with open("/proc/net/tcp") as f:
        for line in list(f)[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[7]) == uid:  # LISTEN
                ports.append(int(fields[1].split(":")[1], 16))
    return ports


def test_another_user_on_the_host_cannot_take_a_process_sandboxs_events(
        tmp_path: Path) -> None:
    async def body(start: Callable[[], Awaitable[Sandbox]]) -> None:
        sandbox = await start()
        ports = _listening_ports_of(sandbox.uid)
        assert len(ports) == 1  # the sandbox's Runtime API, on the host's loopback
        reader, writer = await asyncio.open_connection("127.0.0.1", ports[0])
        writer.write(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        invoke = asyncio.create_task(_invoke(sandbox, {"kind": "ok"}, "req-mine"))
        assert await asyncio.wait_for(reader.read(), 30) == b""  # closed, nothing handed out
        writer.close()
        answer = await invoke
        assert json.loads(answer["payload"])["request_id"] == "req-mine"
    _run(tmp_path, {"lambda_function.py": LAMBDA_FUNCTION}, "process", body)

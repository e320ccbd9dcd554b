"""AWS Lambda's own API at the frontend, called by the real boto3 with SigV4 access keys
(``bazaar functions keys``) against a real platform on loopback: Invoke (results, handler
errors, Event, DryRun, the log tail, qualifiers, client context), Create/Get/List/Delete,
UpdateFunctionCode/Configuration, PublishVersion, aliases, environment variables (under both
bootstraps), event source mappings on the real ``bazaar broker``, and the refusals boto3 sees
as AWS's own errors."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from tests.integration.functions.conftest import FAULTY, zip_files

from bazaar.auth import SigV4Request, sign_sigv4
from bazaar.broker import BrokerProcess, run_subprocess
from bazaar.functions import (
    SCOPE,
    FunctionSpec,
    PlatformAccess,
    ServerProcess,
    start_server_process,
)
from bazaar.processes import eventually

REGION = "eu-local-1"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("lambda-api")
    with start_server_process(data_dir, workers=1, failed_auth_burst=1000,
                              retry_backoff_s=0.05) as running:
        with running.client() as c:
            c.create(FunctionSpec("target"), zip_files({"app.py": FAULTY}))
            c.publish("target")
            c.set_alias("target", "live", "1")
        yield running


@pytest.fixture(scope="module")
def access_key(platform: ServerProcess) -> tuple[str, str]:
    access = PlatformAccess(platform.data_dir / "functions")
    try:
        issued = access.access_keys.create("boto3 tests", [SCOPE])
    finally:
        access.close()
    return issued.app_id, issued.api_key.reveal()


def _client(platform: ServerProcess, key: tuple[str, str]) -> Any:
    return boto3.client("lambda", endpoint_url=platform.url, region_name=REGION,
                        aws_access_key_id=key[0], aws_secret_access_key=key[1],
                        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                      read_timeout=60))


@pytest.fixture(scope="module")
def aws(platform: ServerProcess, access_key: tuple[str, str]) -> Any:
    return _client(platform, access_key)


def _payload(answer: dict[str, Any]) -> Any:
    return json.loads(answer["Payload"].read())


def test_request_response(aws: Any) -> None:
    answer = aws.invoke(FunctionName="target", Payload=json.dumps({"kind": "ok", "n": 1}))
    assert answer["StatusCode"] == 200
    assert answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    assert _payload(answer) == {"echo": {"kind": "ok", "n": 1}, "version": "$LATEST"}


def test_handler_error_is_unhandled_with_lambdas_shape(aws: Any) -> None:
    answer = aws.invoke(FunctionName="target", Payload=b'{"kind": "raise"}')
    assert (answer["StatusCode"], answer["FunctionError"]) == (200, "Unhandled")
    error = _payload(answer)
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom")
    assert isinstance(error["stackTrace"], list)


def test_event_dry_run_and_tail(aws: Any) -> None:
    assert aws.invoke(FunctionName="target", InvocationType="Event",
                      Payload=b'{"kind": "ok"}')["StatusCode"] == 202
    assert aws.invoke(FunctionName="target", InvocationType="DryRun")["StatusCode"] == 204
    answer = aws.invoke(FunctionName="target", LogType="Tail", Payload=b'{"kind": "ok"}')
    tail = base64.b64decode(answer["LogResult"]).decode()
    assert tail.startswith("START RequestId: ")
    assert "event ok" in tail
    assert "\nEND RequestId: " in tail and "REPORT RequestId: " in tail
    assert "Max Memory Used: " in tail


def test_qualifiers_versions_aliases_and_arns(aws: Any) -> None:
    for name, qualifier in (("target", "live"), ("target", "1"), ("target:live", None),
                            ("arn:aws:lambda:local:000000000000:function:target:1", None)):
        more = {"Qualifier": qualifier} if qualifier else {}
        answer = aws.invoke(FunctionName=name, Payload=b'{"kind": "ok"}', **more)
        assert answer["ExecutedVersion"] == "1", name
        assert _payload(answer)["version"] == "1"


def test_unknown_function_version_and_alias_are_resource_not_found(aws: Any) -> None:
    for name, more in (("nobody", {}), ("target", {"Qualifier": "7"}),
                       ("target", {"Qualifier": "nosuch"})):
        with pytest.raises(aws.exceptions.ResourceNotFoundException) as caught:
            aws.invoke(FunctionName=name, Payload=b"{}", **more)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    for bad in (b"not json", b"{"):
        with pytest.raises(ClientError) as refused:
            aws.invoke(FunctionName="target", Payload=bad)
        assert refused.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_wrong_secret_and_unknown_key_are_refused(platform: ServerProcess,
                                                  access_key: tuple[str, str]) -> None:
    for key, code in (((access_key[0], "not the secret"), "InvalidSignatureException"),
                      (("app_00000000deadbeef", "whatever"), "UnrecognizedClientException"),
                      (("AKIDEXAMPLE", "whatever"), "UnrecognizedClientException")):
        with pytest.raises(ClientError) as caught:
            _client(platform, key).invoke(FunctionName="target", Payload=b"{}")
        error = caught.value.response
        assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
            code, 403)


def test_a_skewed_client_clock_is_refused(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    late = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: late)
    with pytest.raises(ClientError) as caught:
        aws.invoke(FunctionName="target", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "Signature expired" in caught.value.response["Error"]["Message"]


def test_oversized_payload_is_request_too_large(aws: Any) -> None:
    with pytest.raises(ClientError) as caught:
        aws.invoke(FunctionName="target", Payload=b'"' + b"x" * (7 * 1024 * 1024) + b'"')
    assert caught.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def _raw(platform: ServerProcess, key: tuple[str, str], body: bytes,
         authorization: str | None = None, now: float | None = None) -> httpx.Response:
    url = platform.url + "/2015-03-31/functions/target/invocations"
    host = urlsplit(url).netloc
    now = time.time() if now is None else now  # one instant for the header and signature
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    headers = [("Host", host), ("X-Amz-Date", amz_date), ("Content-Type", "application/json")]
    if authorization is None:
        authorization = sign_sigv4(
            SigV4Request("POST", "/2015-03-31/functions/target/invocations", "", headers),
            body, access_key_id=key[0], secret=key[1].encode(), region=REGION,
            service="lambda", now=now)
    return httpx.post(url, content=body, headers=[*headers[1:],
                                                  ("Authorization", authorization)])


def test_identical_request_replayed_within_the_window_is_accepted_as_on_aws(
        platform: ServerProcess, access_key: tuple[str, str]) -> None:
    """SigV4 has no nonce: AWS answers a captured request again within its 5 minutes."""
    body, now = b'{"kind": "ok"}', time.time()
    first = _raw(platform, access_key, body, now=now)
    # the replay carries the captured X-Amz-Date too (a later second would not match it)
    again = _raw(platform, access_key, body, first.request.headers["authorization"], now)
    assert (first.status_code, again.status_code) == (200, 200)
    changed = _raw(platform, access_key, b'{"kind": "raise"}',
                   first.request.headers["authorization"], now)
    assert (changed.status_code, changed.headers["x-amzn-errortype"]) == (
        403, "InvalidSignatureException")


@pytest.mark.parametrize("authorization", [
    "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential=, SignedHeaders=;;, Signature=zz",
    "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=" + "0" * 64,
])
def test_garbage_signatures_are_403_never_500(platform: ServerProcess,
                                              access_key: tuple[str, str],
                                              authorization: str) -> None:
    answer = _raw(platform, access_key, b"{}", authorization)
    assert answer.status_code == 403
    assert answer.headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert "message" in answer.json()


def test_unsigned_and_bearer(platform: ServerProcess) -> None:
    url = platform.url + "/2015-03-31/functions/target/invocations"
    unsigned = httpx.post(url, content=b"{}")
    assert (unsigned.status_code, unsigned.headers["x-amzn-errortype"]) == (
        403, "MissingAuthenticationTokenException")
    bearer = httpx.post(url, content=b'{"kind": "ok"}',
                        headers={"Authorization": f"Bearer {platform.token()}"})
    assert bearer.status_code == 200 and bearer.headers["x-amz-executed-version"] == "$LATEST"
    unknown = httpx.get(platform.url + "/2015-03-31/nothing",
                        headers={"Authorization": f"Bearer {platform.token()}"})
    assert (unknown.status_code, unknown.headers["x-amzn-errortype"]) == (
        404, "UnknownOperationException")


LAMBDA_HANDLER = '''
import os

def lambda_handler(event, context):
    return {"id": context.aws_request_id, "left": context.get_remaining_time_in_millis() > 0,
            "tmp": os.access("/tmp", os.W_OK), "got": event}
'''


def test_create_get_list_invoke_delete_from_a_zip(aws: Any) -> None:
    made = aws.create_function(FunctionName="from-boto", Runtime="python3.12",
                               Role="arn:aws:iam::123456789012:role/ignored",
                               Handler="lambda_function.lambda_handler", Timeout=5,
                               MemorySize=256,
                               Code={"ZipFile": zip_files({"lambda_function.py":
                                                           LAMBDA_HANDLER})})
    assert (made["FunctionName"], made["Handler"], made["MemorySize"], made["Timeout"],
            made["Version"], made["State"]) == (
        "from-boto", "lambda_function.lambda_handler", 256, 5, "$LATEST", "Active")
    assert made["CodeSize"] > 0 and len(base64.b64decode(made["CodeSha256"])) == 32
    got = aws.get_function(FunctionName="from-boto")["Configuration"]
    assert got["CodeSha256"] == made["CodeSha256"]
    assert "from-boto" in {f["FunctionName"] for f in aws.list_functions()["Functions"]}
    answer = _payload(aws.invoke(FunctionName="from-boto", Payload=b'{"a": 1}'))
    assert answer["left"] and answer["tmp"] and answer["got"] == {"a": 1} and answer["id"]
    with pytest.raises(aws.exceptions.ResourceConflictException):
        aws.create_function(FunctionName="from-boto", Runtime="python3.12", Role="r",
                            Handler="lambda_function.lambda_handler",
                            Code={"ZipFile": zip_files({"lambda_function.py": LAMBDA_HANDLER})})
    aws.delete_function(FunctionName="from-boto")
    with pytest.raises(aws.exceptions.ResourceNotFoundException):
        aws.get_function(FunctionName="from-boto")
    with pytest.raises(aws.exceptions.ResourceNotFoundException):
        aws.delete_function(FunctionName="from-boto")


@pytest.mark.parametrize(("more", "code"), [
    ({"Runtime": "nodejs20.x"}, "InvalidParameterValueException"),
    ({"Handler": "no_such_module.handler"}, "InvalidZipFileException"),
    ({"Timeout": 1000}, "InvalidParameterValueException"),
    ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "InvalidParameterValueException"),
    ({"Environment": {"Variables": {"BIG": "x" * 4096}}}, "InvalidParameterValueException"),
    ({"Layers": ["arn:aws:lambda:local:000000000000:layer:x:1"]},
     "InvalidParameterValueException"),
])
def test_create_refusals_change_nothing(aws: Any, more: dict[str, Any], code: str) -> None:
    fields: dict[str, Any] = {"FunctionName": "refused", "Runtime": "python3.12", "Role": "r",
                              "Handler": "lambda_function.lambda_handler",
                              "Code": {"ZipFile": zip_files({"lambda_function.py":
                                                             LAMBDA_HANDLER})}}
    with pytest.raises(ClientError) as caught:
        aws.create_function(**{**fields, **more})
    assert caught.value.response["Error"]["Code"] == code
    with pytest.raises(aws.exceptions.ResourceNotFoundException):
        aws.get_function(FunctionName="refused")


def test_an_unknown_key_is_refused_before_the_body_is_read(platform: ServerProcess) -> None:
    """A 60 MB upload declared (under the 70 MB route limit) with a signature of no key: 403
    from the head alone, not a byte of the body sent."""
    parts = urlsplit(platform.url)
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    head = (f"POST /2015-03-31/functions HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"X-Amz-Date: {date}\r\nContent-Length: 60000000\r\n"
            f"Authorization: AWS4-HMAC-SHA256 Credential=app_00000000deadbeef/{date[:8]}/"
            f"local/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
            "\r\n\r\n")
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=30) as s:
        s.sendall(head.encode())
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"UnrecognizedClientException" in answer


# --- the management calls beyond Create/Get/List/Delete: code, versions, aliases, environment
# variables, client context (both bootstraps), event source mappings on the real broker -------

#: A handler written for Lambda, as it would be deployed there: environment variables, the
#: client context, the request id, the remaining time, /tmp.
PORTABLE = '''
import os

def lambda_handler(event, context):
    cc = context.client_context
    with open("/tmp/probe", "w") as f:
        f.write(context.aws_request_id)
    return {
        "greeting": os.environ.get("GREETING"), "secret": os.environ.get("DB_URL"),
        "name": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
        "request_id": context.aws_request_id,
        "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 5000,
        "custom": cc.custom if cc else None, "env": cc.env if cc else None,
        "app": [cc.client.app_title, cc.client.installation_id, cc.client.app_version_name,
                cc.client.app_version_code, cc.client.app_package_name]
               if cc and cc.client else None,
        "tmp": open("/tmp/probe").read() == context.aws_request_id,
    }
'''


def _version_code(tag: str) -> bytes:
    return zip_files({"lambda_function.py": f"def lambda_handler(event, context):\n"
                                       f"    return {{'code': {tag!r}, 'event': event}}\n"})


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    with run_subprocess(tmp_path_factory.mktemp("broker") / "data",
                        args=("--partitions", "2")) as running:
        yield running


def _invoke(aws: Any, name: str, event: Any = None, **more: Any) -> Any:
    answer = aws.invoke(FunctionName=name, Payload=json.dumps(event or {}), **more)
    assert "FunctionError" not in answer, answer["Payload"].read()
    return answer["ExecutedVersion"], json.loads(answer["Payload"].read())


def _create(aws: Any, name: str, code: bytes, **more: Any) -> dict[str, Any]:
    created: dict[str, Any] = aws.create_function(
        FunctionName=name, Runtime="python3.12", Role="arn:aws:iam::000000000000:role/x",
        Handler="lambda_function.lambda_handler", Code={"ZipFile": code}, **more)
    return created


def test_update_code_versions_and_aliases(aws: Any) -> None:
    _create(aws, "shelf", _version_code("one"))
    assert _invoke(aws, "shelf") == ("$LATEST", {"code": "one", "event": {}})
    first = aws.publish_version(FunctionName="shelf", Description="first cut")
    assert (first["Version"], first["Description"]) == ("1", "first cut")
    assert first["FunctionArn"].endswith(":function:shelf:1")
    # publishing an unchanged $LATEST again gives the same version, as Lambda does
    assert aws.publish_version(FunctionName="shelf")["Version"] == "1"

    updated = aws.update_function_code(FunctionName="shelf", ZipFile=_version_code("two"))
    assert updated["CodeSha256"] != first["CodeSha256"]
    assert _invoke(aws, "shelf", {"n": 1}) == ("$LATEST", {"code": "two", "event": {"n": 1}})
    assert _invoke(aws, "shelf", Qualifier="1")[1]["code"] == "one"  # versions are immutable
    with pytest.raises(aws.exceptions.InvalidParameterValueException):
        aws.publish_version(FunctionName="shelf", CodeSha256=first["CodeSha256"])
    published = aws.update_function_code(FunctionName="shelf", ZipFile=_version_code("three"),
                                         Publish=True)
    assert published["Version"] == "2"
    versions = aws.list_versions_by_function(FunctionName="shelf")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert versions[1]["Description"] == "first cut"

    alias = aws.create_alias(FunctionName="shelf", Name="live", FunctionVersion="1",
                             Description="what users see")
    assert (alias["Name"], alias["FunctionVersion"], alias["Description"]) == (
        "live", "1", "what users see")
    assert alias["AliasArn"].endswith(":function:shelf:live")
    assert _invoke(aws, "shelf:live") == ("1", {"code": "one", "event": {}})
    moved = aws.update_alias(FunctionName="shelf", Name="live", FunctionVersion="2")
    assert (moved["FunctionVersion"], moved["Description"]) == ("2", "what users see")
    assert _invoke(aws, "shelf", Qualifier="live") == ("2", {"code": "three", "event": {}})
    assert _invoke(aws, "shelf:live")[0] == "2"
    assert aws.get_alias(FunctionName="shelf", Name="live")["FunctionVersion"] == "2"
    aws.create_alias(FunctionName="shelf", Name="old", FunctionVersion="1")
    assert [a["Name"] for a in aws.list_aliases(FunctionName="shelf")["Aliases"]] == [
        "live", "old"]
    assert [a["Name"] for a in aws.list_aliases(FunctionName="shelf",
                                                FunctionVersion="1")["Aliases"]] == ["old"]

    # Lambda's errors for each bad input; none changes anything
    with pytest.raises(aws.exceptions.ResourceConflictException):
        aws.create_alias(FunctionName="shelf", Name="live", FunctionVersion="1")
    for name, version in (("ghost", "1"), ("fresh", "9")):
        with pytest.raises(aws.exceptions.ResourceNotFoundException):
            aws.create_alias(FunctionName="shelf", Name=name, FunctionVersion=version) \
                if name == "fresh" else aws.get_alias(FunctionName="shelf", Name=name)
    with pytest.raises(aws.exceptions.ResourceNotFoundException):
        aws.update_alias(FunctionName="shelf", Name="ghost", FunctionVersion="1")
    with pytest.raises(aws.exceptions.ResourceNotFoundException):
        aws.update_alias(FunctionName="shelf", Name="live", FunctionVersion="9")
    with pytest.raises(aws.exceptions.InvalidParameterValueException):
        aws.create_alias(FunctionName="shelf", Name="canary", FunctionVersion="1",
                         RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    with pytest.raises(aws.exceptions.ResourceNotFoundException):
        _invoke(aws, "shelf:ghost")
    with pytest.raises(aws.exceptions.ResourceNotFoundException):
        _invoke(aws, "shelf", Qualifier="7")
    with pytest.raises(aws.exceptions.InvalidZipFileException):
        aws.update_function_code(FunctionName="shelf", ZipFile=b"not a zip")
    with pytest.raises(aws.exceptions.InvalidZipFileException):
        aws.update_function_code(FunctionName="shelf",
                                 ZipFile=zip_files({"other.py": "x = 1\n"}))  # no handler module
    with pytest.raises(aws.exceptions.ResourceNotFoundException):
        aws.update_function_code(FunctionName="nobody", ZipFile=_version_code("x"))
    assert _invoke(aws, "shelf") == ("$LATEST", {"code": "three", "event": {}})
    assert aws.get_alias(FunctionName="shelf", Name="live")["FunctionVersion"] == "2"

    aws.delete_alias(FunctionName="shelf", Name="old")
    with pytest.raises(aws.exceptions.ResourceNotFoundException):
        aws.get_alias(FunctionName="shelf", Name="old")
    aws.delete_function(FunctionName="shelf")


def test_environment_variables_at_create_and_update(aws: Any) -> None:
    created = _create(aws, "envy", zip_files({"lambda_function.py": PORTABLE}), Timeout=5,
                      Environment={"Variables": {"GREETING": "hello", "DB_URL": "pg://x"}})
    assert created["Environment"]["Variables"] == {"DB_URL": "pg://x", "GREETING": "hello"}
    _, seen = _invoke(aws, "envy")
    assert (seen["greeting"], seen["secret"], seen["name"]) == ("hello", "pg://x", "envy")
    config = aws.update_function_configuration(
        FunctionName="envy", Environment={"Variables": {"GREETING": "bonjour"}})
    assert config["Environment"]["Variables"] == {"GREETING": "bonjour"}
    _, seen = _invoke(aws, "envy")
    assert (seen["greeting"], seen["secret"]) == ("bonjour", None)
    assert aws.get_function(FunctionName="envy")["Configuration"]["Environment"] == {
        "Variables": {"GREETING": "bonjour"}}
    assert aws.get_function_configuration(FunctionName="envy")["Environment"] == {
        "Variables": {"GREETING": "bonjour"}}

    too_big = {f"K{i}": "v" * 100 for i in range(40)}  # ~4.3 KB as JSON
    for variables in (too_big, {"AWS_REGION": "us-east-1"}, {"1BAD": "x"}):
        with pytest.raises(aws.exceptions.InvalidParameterValueException) as refused:
            aws.update_function_configuration(FunctionName="envy",
                                              Environment={"Variables": variables})
        if variables is too_big:
            assert "exceeded the 4KB limit" in str(refused.value)
        with pytest.raises(aws.exceptions.InvalidParameterValueException):
            _create(aws, "envy2", zip_files({"lambda_function.py": PORTABLE}),
                    Environment={"Variables": variables})
    assert _invoke(aws, "envy")[1]["greeting"] == "bonjour"  # unchanged by the refusals
    with pytest.raises(aws.exceptions.ResourceNotFoundException):
        aws.get_function(FunctionName="envy2")
    with pytest.raises(aws.exceptions.InvalidParameterValueException):
        aws.update_function_configuration(FunctionName="envy", Layers=["arn:aws:x"])
    aws.delete_function(FunctionName="envy")


@pytest.mark.parametrize("runtime", ["bazaar", "awslambdaric"])
def test_a_lambda_handler_runs_unchanged_with_env_and_client_context(
        aws: Any, platform: ServerProcess, runtime: str) -> None:
    name = f"portable-{runtime}"
    with platform.client() as client:  # the runtime is Bazaar's setting; the rest is boto3
        client.create(FunctionSpec(name, handler="lambda_function.lambda_handler",
                                   runtime=runtime, timeout_s=5, init_timeout_s=20,  # type: ignore[arg-type]
                                   environment={"GREETING": "hi", "DB_URL": "pg://y"}),
                      zip_files({"lambda_function.py": PORTABLE}))
    context = {"client": {"installation_id": "i-1", "app_title": "Shop", "app_version_name":
                          "1.0", "app_version_code": "1", "app_package_name": "bz.shop"},
               "custom": {"cart": "42"}, "env": {"locale": "fr"}}
    answer = aws.invoke(FunctionName=name, Payload=b"{}", ClientContext=base64.b64encode(
        json.dumps(context).encode()).decode())
    seen = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, seen
    assert seen["request_id"] == answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert {k: seen[k] for k in ("greeting", "secret", "name", "custom", "env", "app",
                                 "remaining_ok", "tmp")} == {
        "greeting": "hi", "secret": "pg://y", "name": name, "custom": {"cart": "42"},
        "env": {"locale": "fr"}, "app": ["Shop", "i-1", "1.0", "1", "bz.shop"],
        "remaining_ok": True, "tmp": True}
    _, plain = _invoke(aws, name)  # warm, without a client context
    assert (plain["custom"], plain["app"], plain["greeting"]) == (None, None, "hi")
    for bad in ("not base64!", base64.b64encode(b"[1, 2]").decode()):
        with pytest.raises(aws.exceptions.InvalidRequestContentException):
            aws.invoke(FunctionName=name, Payload=b"{}", ClientContext=bad)
    aws.delete_function(FunctionName=name)


CONSUMER = '''
import base64

def lambda_handler(event, context):
    seen = []
    for key, records in event["records"].items():
        for r in records:
            seen.append([key, r["partition"], r["offset"], base64.b64decode(r["value"]).decode()])
            print("record", key, r["offset"], base64.b64decode(r["value"]).decode())
    return {"source": event["eventSource"], "servers": event["bootstrapServers"], "seen": seen}
'''


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, value in enumerate(values):
            await producer.send_and_wait(topic, value, key=str(i % 2).encode())
    finally:
        await producer.stop()


async def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic)
                                                          or await _partitions(consumer, topic))]
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(parts)).items()}
    finally:
        await consumer.stop()


async def _partitions(consumer: Any, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return set(consumer.partitions_for_topic(topic) or ())


def _all_committed(bootstrap: str, mapping_uuid: str, topic: str,
                   ends: dict[int, int]) -> dict[int, int | None]:
    async def read() -> dict[int, int | None]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap,
                                    group_id=f"bazaar-functions-{mapping_uuid}",
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            return {p: await consumer.committed(TopicPartition(topic, p)) for p in ends}
        finally:
            await consumer.stop()

    committed = asyncio.run(read())
    assert committed == ends
    return committed


def test_event_source_mapping_delivers_lambda_kafka_batches(
        aws: Any, platform: ServerProcess, broker: BrokerProcess) -> None:
    topic = "lambda-orders"
    _create(aws, "orders", zip_files({"lambda_function.py": CONSUMER}))
    asyncio.run(_produce(broker.bootstrap, topic, [b"warm"]))  # make the topic exist
    source = {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [broker.bootstrap]}}
    made = aws.create_event_source_mapping(FunctionName="orders", Topics=[topic],
                                           SelfManagedEventSource=source,
                                           StartingPosition="TRIM_HORIZON", BatchSize=5)
    assert (made["Topics"], made["BatchSize"], made["StartingPosition"]) == (
        [topic], 5, "TRIM_HORIZON")
    assert made["FunctionArn"].endswith(":function:orders")
    values = [f"order-{i}".encode() for i in range(12)]
    asyncio.run(_produce(broker.bootstrap, topic, values))

    def delivered() -> list[str]:
        with platform.client() as client:
            logs = client.logs("orders", limit=100)
        lines = [line for report in logs for line in report["logs"].splitlines()
                 if line.startswith("record ")]
        assert len(lines) >= 13
        return lines

    lines = eventually(delivered, timeout=60)
    got = sorted(line.split()[-1] for line in lines)
    assert got == sorted(["warm", *(v.decode() for v in values)])  # each once, here
    keys = {line.split()[1] for line in lines}
    assert keys <= {f"{topic}-0", f"{topic}-1"}
    ends = asyncio.run(_ends(broker.bootstrap, topic))
    committed = eventually(lambda: _all_committed(broker.bootstrap, made["UUID"], topic, ends),
                           timeout=30)
    assert committed == ends  # every offset committed, after its batch succeeded
    listed = aws.list_event_source_mappings(FunctionName="orders")["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [made["UUID"]]
    assert aws.get_event_source_mapping(UUID=made["UUID"])["State"] == "Enabled"

    # Lambda's errors for bad mappings
    for bad in ({"FunctionName": "nobody"}, {"FunctionName": "orders:ghost"}):
        with pytest.raises(aws.exceptions.ResourceNotFoundException):
            aws.create_event_source_mapping(Topics=[topic], SelfManagedEventSource=source,
                                            StartingPosition="LATEST", **bad)
    with pytest.raises(aws.exceptions.InvalidParameterValueException):
        aws.create_event_source_mapping(FunctionName="orders", Topics=["bad topic!"],
                                        SelfManagedEventSource=source,
                                        StartingPosition="LATEST")
    with pytest.raises(aws.exceptions.InvalidParameterValueException):
        aws.create_event_source_mapping(
            FunctionName="orders", StartingPosition="LATEST",
            EventSourceArn="arn:aws:sqs:us-east-1:000000000000:queue")
    assert aws.delete_event_source_mapping(UUID=made["UUID"])["State"] == "Deleting"
    with pytest.raises(aws.exceptions.ResourceNotFoundException):
        aws.get_event_source_mapping(UUID=made["UUID"])
    assert aws.list_event_source_mappings()["EventSourceMappings"] == []
    aws.delete_function(FunctionName="orders")


SCANNER = '''
import os

def lambda_handler(event, context):
    marker = event["marker"].encode()
    found, readable = [], 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        for part in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{part}", "rb") as f:
                    data = f.read()
            except OSError:
                continue
            readable += part == "cmdline"
            if marker in data:
                found.append(f"{pid}/{part}")
    return {"found": found, "cmdlines_read": readable}
'''


def test_a_functions_variables_are_not_visible_to_another_function(aws: Any) -> None:
    """The variables travel in the runtime's environment, set after the uid drop — never on a
    command line, which every user can read in /proc."""
    marker = "sekrit-4f1c9e"
    _create(aws, "holder", zip_files({"lambda_function.py": PORTABLE}),
            Environment={"Variables": {"DB_URL": marker}})
    _create(aws, "scanner", zip_files({"lambda_function.py": SCANNER}), Timeout=10)
    assert _invoke(aws, "holder")[1]["secret"] == marker  # its sandbox stays warm
    _, seen = _invoke(aws, "scanner", {"marker": marker})
    assert seen["cmdlines_read"] > 3  # it did see other processes' command lines
    assert seen["found"] == []
    for name in ("holder", "scanner"):
        aws.delete_function(FunctionName=name)

"""AWS Lambda's Invoke API at the frontend, called by the real boto3 with SigV4 access keys
(``bazaar functions keys``) against a real platform on loopback: results, handler errors,
Event, DryRun, the log tail, qualifiers, and the refusals boto3 sees as AWS's own errors."""

from __future__ import annotations

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
from bazaar.functions import (
    SCOPE,
    FunctionSpec,
    PlatformAccess,
    ServerProcess,
    start_server_process,
)

REGION = "eu-local-1"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("lambda-api")
    with start_server_process(data_dir, workers=1, failed_auth_burst=1000) as running:
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

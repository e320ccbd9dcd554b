"""Bazaar Functions: warm invoke over HTTP, cold starts, async throughput vs a direct call.

In one run: a direct in-process call of the handler (the baseline); a warm invoke through the
frontend over HTTP (client -> frontend -> worker manager -> worker host -> sandbox pipe);
cold starts with ``process`` and ``namespace`` isolation (spawn + Init, as the worker manager
measures it, and end to end); async throughput (202s, then pollers drain the durable queue).
Targets from the issue: warm p50 < 2 ms, cold p50 < 80 ms (process) / < 100 ms (namespace),
async > 500 events/s. Also, for AWS clients: a warm invoke through boto3 signing with SigV4
(target ≤ 2 ms p50), and SigV4 verification's own cost beside RFC 9421 verification and one
raw HMAC-SHA256 (in-process, the same request shape).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bazaar.auth import (
    SignaturePolicy,
    SignedRequest,
    SigV4Policy,
    SigV4Request,
    sign_request,
    sign_sigv4,
    verify,
    verify_sigv4,
)
from bazaar.functions import (
    SCOPE,
    FunctionsClient,
    FunctionSpec,
    PlatformAccess,
    start_server_process,
    zip_directory,
)

HANDLER = "def handler(event, context):\n    return {'n': event.get('n', 0) + 1}\n"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _direct(source: Path, n: int) -> float:
    spec = importlib.util.spec_from_file_location("bench_fn_app", source / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler, event = module.handler, {"n": 1}
    started = time.perf_counter()
    for _ in range(n):
        handler(event, None)
    return (time.perf_counter() - started) / n


def _warm(client: FunctionsClient, name: str, n: int) -> list[float]:
    client.invoke(name, {"n": 0})
    with httpx.Client(base_url=client.url, headers=client.auth_headers()) as http:
        url = f"/functions/{name}/invocations"
        samples = []
        for i in range(n):
            started = time.perf_counter()
            response = http.post(url, content=b'{"n": %d}' % i)
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200
    return samples


def _cold(client: FunctionsClient, code: bytes, isolation: str, n: int
          ) -> tuple[list[float], list[float]]:
    init, total = [], []
    for i in range(n):
        name = f"cold-{isolation}-{i}"
        client.create(FunctionSpec(name, isolation=isolation), code)  # type: ignore[arg-type]
        started = time.perf_counter()
        response = client.invoke(name, {"n": i})
        total.append(time.perf_counter() - started)
        assert response.init_duration_ms is not None
        init.append(response.init_duration_ms / 1000)
    return init, total


def _async_throughput(url: str, name: str, seconds: int, client: FunctionsClient
                      ) -> tuple[float, float, int]:
    """Event invokes from wrk (8 connections) for ``seconds``; return (accepted/s, run/s,
    events). Python HTTP clients, not the platform, limit the rate at high concurrency, so
    the load comes from wrk; without wrk, from 8 sequential httpx clients in threads."""
    before = client.stats()["async_completed"]
    started = time.perf_counter()
    if shutil.which("wrk"):
        script = Path(tempfile.mkdtemp()) / "event.lua"
        bearer = client.auth_headers()["authorization"]
        script.write_text('wrk.method = "POST"\nwrk.body = "{}"\n'
                          'wrk.headers["x-invocation-type"] = "Event"\n'
                          f'wrk.headers["authorization"] = "{bearer}"\n')
        out = subprocess.run(["wrk", "-t1", "-c8", f"-d{seconds}s", "-s", str(script),
                              f"{url}/functions/{name}/invocations"],
                             capture_output=True, text=True, check=True).stdout
        match = re.search(r"(\d+) requests in", out)
        assert match and "Non-2xx" not in out, out
        sent = int(match.group(1))
    else:
        def post_for(deadline: float) -> int:
            count = 0
            with httpx.Client(base_url=url, headers=client.auth_headers()) as http:
                while time.perf_counter() < deadline:
                    http.post(f"/functions/{name}/invocations", content=b"{}",
                              headers={"x-invocation-type": "Event"})
                    count += 1
            return count
        with ThreadPoolExecutor(8) as pool:
            sent = sum(pool.map(post_for, [started + seconds] * 8))
    accepted = time.perf_counter() - started
    while client.stats()["async_completed"] - before < sent:
        time.sleep(0.01)
    return sent / accepted, sent / (time.perf_counter() - started), sent


def _per_call(fn: object, n: int) -> float:
    call = fn  # a zero-argument callable
    assert callable(call)
    started = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - started) / n


def _verify_costs(n: int) -> tuple[float, float, float]:
    """µs per verification: SigV4, RFC 9421 (hmac-sha256 + Content-Digest), one raw HMAC."""
    secret, body = b"s" * 40, b'{"n": 1}'
    path = "/2015-03-31/functions/warm/invocations"
    headers = [("Host", "127.0.0.1:8090"), ("Content-Type", "application/json"),
               ("X-Amz-Date", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))]
    bare = SigV4Request("POST", path, "", headers)
    auth = sign_sigv4(bare, body, access_key_id="app_0123456789abcdef", secret=secret,
                      region="local", service="lambda")
    signed = SigV4Request("POST", path, "", [*headers, ("Authorization", auth)])
    keys = {"app_0123456789abcdef": (secret,)}.get
    policy = SigV4Policy(service="lambda")
    sigv4 = _per_call(lambda: verify_sigv4(signed, body, keys, policy), n)
    added = sign_request("POST", "http://127.0.0.1:8090" + path,
                         {"content-type": "application/json"}, body, keyid="app_x",
                         secret=secret)
    request = SignedRequest("POST", "http", "127.0.0.1:8090", path, "",
                            {"content-type": "application/json",
                             **{k.lower(): v for k, v in added.items()}})
    rfc_keys = {"app_x": (secret,)}.get
    rfc9421 = _per_call(lambda: verify(request, body, rfc_keys,
                                       policy=SignaturePolicy(require_nonce=False)), n)
    raw = _per_call(lambda: hmac.new(secret, body, hashlib.sha256).digest(), n)
    return sigv4 * 1e6, rfc9421 * 1e6, raw * 1e6


def _boto3_warm(url: str, data_dir: Path, name: str, n: int) -> list[float]:
    """Warm invokes through boto3's lambda client, signed with a SigV4 access key."""
    import boto3
    from botocore.config import Config

    access = PlatformAccess(data_dir / "functions")
    try:
        issued = access.access_keys.create("bench", [SCOPE])
    finally:
        access.close()
    aws = boto3.client("lambda", endpoint_url=url, region_name="local",
                       aws_access_key_id=issued.app_id,
                       aws_secret_access_key=issued.api_key.reveal(),
                       config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    aws.invoke(FunctionName=name, Payload=b'{"n": 0}')
    samples = []
    for i in range(n):
        started = time.perf_counter()
        answer = aws.invoke(FunctionName=name, Payload=json.dumps({"n": i}).encode())
        answer["Payload"].read()
        samples.append(time.perf_counter() - started)
        assert answer["StatusCode"] == 200
    return samples


def main(quick: bool) -> None:
    warm_n, cold_n, async_s = (400, 8, 3) if quick else (3000, 30, 10)
    with tempfile.TemporaryDirectory(prefix="bench-functions-") as tmp:
        source = Path(tmp) / "fn"
        source.mkdir()
        (source / "app.py").write_text(HANDLER)
        code = zip_directory(source)
        direct = _direct(source, 100_000)
        with start_server_process(Path(tmp) / "data", workers=1,
                                  worker_memory_mb=16384, worker_slots=256) as server, \
                server.client() as client:
            client.create(FunctionSpec("warm"), code)
            warm = _warm(client, "warm", warm_n)
            boto = _boto3_warm(server.url, Path(tmp) / "data", "warm", warm_n)
            cold = {iso: _cold(client, code, iso, cold_n) for iso in ("process", "namespace")}
            client.create(FunctionSpec("events"), code)
            # a first round warms the sandboxes the pollers' concurrency needs
            _async_throughput(server.url, "events", 1, client)
            accept_rate, drain_rate, async_n = _async_throughput(server.url, "events",
                                                                 async_s, client)
            sandboxes = client.stats()["sandboxes"]

    print(f"direct in-process call      {direct * 1e6:9.2f} µs  (baseline)")
    p50, p99 = _pct(warm, 0.5), _pct(warm, 0.99)
    print(f"warm invoke over HTTP  p50 {p50 * 1e3:9.3f} ms  p99 {p99 * 1e3:.3f} ms  "
          f"= {p50 / direct:,.0f}x the direct call   target < 2 ms: "
          f"{'met' if p50 < 0.002 else 'MISSED'}")
    b50, b99 = _pct(boto, 0.5), _pct(boto, 0.99)
    print(f"warm invoke via boto3+SigV4 p50 {b50 * 1e3:6.3f} ms  p99 {b99 * 1e3:.3f} ms  "
          f"= {b50 / p50:.1f}x the httpx+Bearer invoke   target <= 2 ms: "
          f"{'met' if b50 <= 0.002 else 'MISSED'}")
    sigv4_us, rfc_us, raw_us = _verify_costs(2000 if quick else 20000)
    print(f"verify, in-process: SigV4 {sigv4_us:.1f} µs, RFC 9421 {rfc_us:.1f} µs, one raw "
          f"HMAC-SHA256 {raw_us:.2f} µs   (SigV4 = {sigv4_us / raw_us:.0f}x the raw HMAC, "
          f"{sigv4_us / rfc_us:.2f}x RFC 9421)")
    for iso, target in (("process", 0.080), ("namespace", 0.100)):
        init, total = cold[iso]
        print(f"cold start {iso:9}  init p50 {statistics.median(init) * 1e3:7.2f} ms  "
              f"end-to-end p50 {statistics.median(total) * 1e3:7.2f} ms  "
              f"= {statistics.median(total) / p50:.0f}x a warm invoke   target < "
              f"{target * 1e3:.0f} ms: {'met' if statistics.median(total) < target else 'MISSED'}")
    print(f"async: {accept_rate:,.0f} events/s accepted (202, fsync'd), {drain_rate:,.0f} "
          f"events/s end to end (accepted and run)   target > 500/s: "
          f"{'met' if drain_rate > 500 else 'MISSED'}  ({sandboxes} warm sandboxes)")
    print(f"python {sys.version.split()[0]}; samples: warm {warm_n}, cold {cold_n}/isolation, "
          f"async {async_n} events in {async_s} s")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)

"""``bazaar functions``: serve the function platform, run worker hosts, deploy and invoke."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from bazaar.commands._output import JSON, Col, emit_json, emit_table

if TYPE_CHECKING:
    from bazaar.config import Settings
    from bazaar.functions import FunctionsClient

app = typer.Typer(help="Serverless functions: a frontend, worker hosts, sandboxes, async "
                       "invocations with retries and dead letters.", no_args_is_help=True)
dlq = typer.Typer(help="The dead-letter store of failed async invocations.",
                  no_args_is_help=True)
app.add_typer(dlq, name="dlq")
sources = typer.Typer(help="Event source mappings: a topic on a Kafka-compatible log -> a "
                           "function.", no_args_is_help=True)
app.add_typer(sources, name="sources")
keys = typer.Typer(help="Access keys for AWS clients (boto3, the AWS CLI): SigV4-signed calls "
                        "to the Lambda API at the frontend.", no_args_is_help=True)
app.add_typer(keys, name="keys")
T = TypeVar("T")
URL = typer.Option(None, "--url", help="Frontend URL (default: BAZAAR_FUNCTIONS_URL, or the "
                                       "platform serving the data dir).")


def _settings() -> Settings:
    from bazaar.config import Settings

    return Settings()


def _url(url: str | None) -> str:
    if url:
        return url
    settings = _settings()
    if settings.functions_url:
        return settings.functions_url
    from bazaar.functions import FunctionsError, read_address_file

    try:
        info = read_address_file(settings.data_dir)
        return f"http://{info['host']}:{info['port']}"
    except FunctionsError:
        return f"http://{settings.host}:{settings.functions_port}"


def _token() -> str:
    """BAZAAR_FUNCTIONS_TOKEN, else a token minted from the data dir's keyring (readable only
    by the platform's user)."""
    import os

    given = os.environ.get("BAZAAR_FUNCTIONS_TOKEN")
    if given:
        return given
    from bazaar.functions import PlatformAccess

    access = PlatformAccess(_settings().data_dir / "functions")
    try:
        return access.issue()
    finally:
        access.close()


def _call(url: str | None, fn: Callable[[FunctionsClient], T]) -> T:
    """Run one client call; platform errors become a message and exit status 2."""
    from bazaar.functions import FunctionsClient, FunctionsError, Unauthorized

    try:
        with FunctionsClient(_url(url), token=_token()) as client:
            return fn(client)
    except Unauthorized as exc:
        typer.echo(f"error: {exc} (this data dir's keyring is not the platform's: set "
                   "BAZAAR_FUNCTIONS_TOKEN to the output of `bazaar functions token` run "
                   "where the platform serves)", err=True)
        raise typer.Exit(2) from exc
    except FunctionsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    port: int = typer.Option(None, help="Frontend port (default: BAZAAR_FUNCTIONS_PORT, 8090)."),
    workers: int = typer.Option(None, help="Local worker hosts to keep running (default: "
                                           "BAZAAR_FUNCTIONS_WORKERS, 1)."),
) -> None:
    """Run the frontend and control plane, with local worker hosts, until Ctrl-C."""
    from bazaar.functions import run_serve

    s = _settings()
    port = s.functions_port if port is None else port
    where = f"http://{s.host}:{port}" if port else f"a free port on {s.host} (see server.json)"
    typer.echo(f"functions: serving on {where} (data in {s.data_dir / 'functions'})")
    run_serve(s.data_dir, host=s.host, port=port,
              workers=s.functions_workers if workers is None else workers,
              idle_timeout_s=s.functions_idle_timeout_s,
              retry_backoff_s=s.functions_retry_backoff_s,
              max_event_age_s=s.functions_max_event_age_s,
              worker_memory_mb=s.functions_worker_memory_mb,
              worker_slots=s.functions_worker_slots, heartbeat_s=s.functions_heartbeat_s)


@app.command()
def worker(
    control: Path = typer.Option(None, help="The control plane's unix socket (default: the "
                                            "platform serving the data dir)."),
    memory_mb: int = typer.Option(None, help="Memory this host offers to sandboxes."),
    slots: int = typer.Option(None, help="Sandboxes this host runs at most."),
    work_dir: Path = typer.Option(None, help="Package cache and sandbox files."),
    reconnect: bool = typer.Option(True, help="Register again when the control plane "
                                              "restarts (its sandboxes are gone then)."),
) -> None:
    """Run one worker host: register with the control plane, heartbeat, run sandboxes."""
    import os

    from bazaar.functions import FunctionsError, HostConfig, read_address_file, run_host

    s = _settings()
    if control is None:
        try:
            info = read_address_file(s.data_dir)
        except FunctionsError as exc:
            typer.echo(f"error: {exc}; pass --control SOCKET", err=True)
            raise typer.Exit(2) from exc
        control = Path(info["control"])
    while True:
        try:
            run_host(HostConfig(
                control=control,
                work_dir=work_dir or s.data_dir / "functions" / "hosts" / f"cli-{os.getpid()}",
                memory_mb=memory_mb or s.functions_worker_memory_mb,
                slots=slots or s.functions_worker_slots, heartbeat_s=s.functions_heartbeat_s))
        except KeyboardInterrupt:
            return
        except FunctionsError as exc:
            typer.echo(f"error: {exc}", err=True)
            if not reconnect:
                raise typer.Exit(2) from exc
        if not reconnect:
            return
        try:
            time.sleep(1.0)
        except KeyboardInterrupt:
            return


@app.command()
def token() -> None:
    """Print a Bearer token for the platform serving the data dir (valid 1 h), for curl or
    for BAZAAR_FUNCTIONS_TOKEN on another machine."""
    typer.echo(_token())


@app.command()
def deploy(
    directory: Path = typer.Argument(..., help="The function's source directory."),
    name: str = typer.Option(None, help="Function name (default: the directory's name)."),
    handler: str = typer.Option(None, help="module.function to call (default: 'handler' in "
                                           "app.py, else handler.py, else main.py)."),
    memory_mb: int = typer.Option(128, help="Memory limit (MB)."),
    timeout_s: float = typer.Option(3.0, help="Wall-clock limit per invoke (s)."),
    isolation: str = typer.Option("process", help="process, namespace (bubblewrap) or vm "
                                  "(a QEMU microVM; see vm-setup)."),
    allow_network: bool = typer.Option(False, help="Network inside a namespace sandbox."),
    concurrency: int = typer.Option(None, help="Reserved concurrency (429 beyond it)."),
    runtime: str = typer.Option("bazaar", help="bazaar (the fast default) or awslambdaric "
                                               "(AWS's runtime client over the Runtime API)."),
    env: list[str] = typer.Option([], "--env", help="KEY=VALUE, an environment variable for "
                                  "the handler (repeat it; at most 4 KB in all, as Lambda)."),
    url: str = URL,
) -> None:
    """Zip DIR and create the function, or update its code and settings."""
    from bazaar.functions import FunctionsError, FunctionSpec, find_handler

    environment = {}
    for pair in env:
        key, sep, value = pair.partition("=")
        if not sep:
            typer.echo(f"error: --env wants KEY=VALUE, got {pair!r}", err=True)
            raise typer.Exit(2)
        environment[key] = value
    try:
        spec = FunctionSpec(name or directory.resolve().name,
                            handler=handler or find_handler(directory),
                            memory_mb=memory_mb, timeout_s=timeout_s,
                            isolation=isolation,  # type: ignore[arg-type]
                            allow_network=allow_network, concurrency=concurrency,
                            runtime=runtime,  # type: ignore[arg-type]
                            environment=environment)
    except FunctionsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    described = _call(url, lambda c: c.deploy(directory, spec))
    typer.echo(f"deployed {spec.name} (package {described['digest'][:12]}…)")


@app.command()
def invoke(
    name: str = typer.Argument(...),
    event: str = typer.Option("{}", help="The event, as JSON ('-' reads stdin)."),
    async_: bool = typer.Option(False, "--async", help="Queue it (Event invocation)."),
    qualifier: str = typer.Option(None, help="Version number or alias."),
    url: str = URL,
) -> None:
    """Invoke NAME; print its result (exit 1 on a function error) or the queued request id."""
    raw = sys.stdin.read() if event == "-" else event
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        typer.echo(f"error: the event is not JSON: {exc}", err=True)
        raise typer.Exit(2) from exc
    if async_:
        request_id = _call(url, lambda c: c.invoke_async(name, payload, qualifier=qualifier))
        typer.echo(f"queued {request_id}")
        return
    response = _call(url, lambda c: c.invoke(name, payload, qualifier=qualifier, tail=True))
    if response.logs:
        typer.echo(response.logs.rstrip("\n"), err=True)
    init = response.init_duration_ms
    typer.echo(f"REPORT {response.request_id} duration {response.duration_ms:.2f} ms"
               + (f" init {init:.2f} ms" if init is not None else "")
               + f" max memory {response.headers.get('x-max-memory-mb', '?')} MB", err=True)
    if response.error is not None:
        typer.echo(json.dumps(response.error, indent=2))
        raise typer.Exit(1)
    typer.echo(json.dumps(response.payload))


@app.command()
def logs(name: str = typer.Argument(...),
         limit: int = typer.Option(20, help="How many invocations."),
         url: str = URL) -> None:
    """The last invocations of NAME: their REPORT and captured output."""
    for report in _call(url, lambda c: c.logs(name, limit)):
        init = report["initDurationMs"]
        status = "ok" if report["error"] is None else report["error"]["errorType"]
        typer.echo(f"{_when(report['timestamp'])} {report['requestId']} "
                   f"{report['invocationType']} {status} duration {report['durationMs']} ms"
                   + (f" init {init} ms" if init is not None else "")
                   + f" max memory {report['maxMemoryMB']} MB")
        for line in report["logs"].splitlines():
            typer.echo(f"    {line}")
        if report["logsTruncated"]:
            typer.echo("    … (output truncated)")


@app.command("ls")
def ls(url: str = URL, as_json: bool = JSON) -> None:
    """List functions."""
    found = _call(url, lambda c: c.list_functions())
    if as_json:
        return emit_json(found)
    emit_table([Col("name", whole=True), Col("handler", whole=True), Col("memory MB"),
                Col("timeout s"), Col("isolation"), Col("versions")],
               ([f["name"], f["handler"], f["memory_mb"], f["timeout_s"], f["isolation"],
                 ",".join(v["version"] for v in f["versions"]) or "-"] for f in found))


@app.command("rm")
def rm(name: str = typer.Argument(...), url: str = URL) -> None:
    """Delete a function, its versions and aliases."""
    _call(url, lambda c: c.delete(name))
    typer.echo(f"deleted {name}")


@app.command()
def publish(name: str = typer.Argument(...), url: str = URL) -> None:
    """Freeze $LATEST as a new immutable version."""
    typer.echo(f"published {name} version {_call(url, lambda c: c.publish(name))}")


@app.command()
def alias(name: str = typer.Argument(...), alias_name: str = typer.Argument(...),
          version: str = typer.Argument(...), url: str = URL) -> None:
    """Point ALIAS_NAME of NAME at VERSION."""
    _call(url, lambda c: c.set_alias(name, alias_name, version))
    typer.echo(f"{name}:{alias_name} -> {version}")


@app.command()
def hosts(url: str = URL, as_json: bool = JSON) -> None:
    """Worker hosts and their capacity."""
    found = _call(url, lambda c: c.hosts())
    if as_json:
        return emit_json(found)
    emit_table([Col("host", whole=True), Col("pid"), Col("sandboxes"), Col("memory MB"),
                Col("slots"), Col("vm isolation")],
               ([h["host_id"], h["pid"], h["sandboxes"],
                 f"{h.get('used_memory_mb', 0)}/{h.get('memory_mb', 0)}",
                 f"{h.get('used_slots', 0)}/{h.get('slots', 0)}", _vm_cell(h)] for h in found))


def _vm_cell(host: dict[str, Any]) -> str:
    vm = (host.get("isolation") or {}).get("vm") or {}
    if not vm:
        return "-"
    if not vm.get("available"):
        return f"unavailable: {vm.get('reason', '')}"
    cell = f"{vm.get('accel')}: {vm.get('reason', '')}"
    pool = vm.get("pool")
    if pool:  # the warm pool, once a vm sandbox has started on this host
        cell += (f"; pool {pool['warm']} warm, {pool['booting']} booting, "
                 f"{pool['taken_warm']} starts warm / {pool['booted_cold']} cold")
    return cell


@app.command("vm-setup")
def vm_setup(refresh: bool = typer.Option(False, help="Probe KVM again (ignore the cache)."),
             as_json: bool = JSON) -> None:
    """Prepare --isolation vm: download the guest kernel (apt-get download, not installed),
    build the guest image, probe KVM vs TCG and boot one guest."""
    from bazaar.functions import VmUnavailable, setup_vm

    try:
        found = setup_vm(lambda line: typer.echo(line, err=True), refresh=refresh)
    except VmUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        return emit_json(found)
    for key, value in found.items():
        typer.echo(f"{key:>16}: {value}")


@dlq.command("ls")
def dlq_ls(function: str = typer.Option(None, help="Only this function's."),
           url: str = URL, as_json: bool = JSON) -> None:
    """List dead letters."""
    found = _call(url, lambda c: c.dead_letters(function))
    if as_json:
        return emit_json(found)
    emit_table([Col("id", whole=True), Col("function", whole=True), Col("reason"),
                Col("error"), Col("attempts"), Col("failed"), Col("payload")],
               ([d["id"], f"{d['function']}:{d['qualifier']}", d["reason"],
                 (d["error"] or {}).get("errorType", "-"), d["attempts"],
                 _when(d["failedAt"]), d["payload"]] for d in found))


@dlq.command("redrive")
def dlq_redrive(ids: list[int] = typer.Argument(None, help="Dead letter ids (default: all)."),
                function: str = typer.Option(None, help="Only this function's."),
                url: str = URL) -> None:
    """Put dead letters back on the queue."""
    moved = _call(url, lambda c: c.redrive(ids or None, function))
    typer.echo(f"redriven {moved}")


@dlq.command("rm")
def dlq_rm(letter_id: int = typer.Argument(...), url: str = URL) -> None:
    """Delete one dead letter."""
    _call(url, lambda c: c.delete_dead_letter(letter_id))
    typer.echo(f"deleted {letter_id}")


@sources.command("add")
def sources_add(
    name: str = typer.Argument(..., help="The function."),
    topic: str = typer.Argument(...),
    bootstrap: str = typer.Option(None, help="host:port of the log (default: "
                                             "BAZAAR_KAFKA_BOOTSTRAP, else the embedded broker)."),
    batch_size: int = typer.Option(100, help="Records per invoke, at most."),
    start: str = typer.Option("latest", help="latest or earliest, for a new mapping."),
    qualifier: str = typer.Option("$LATEST", help="Version or alias to invoke."),
    url: str = URL,
) -> None:
    """Map TOPIC to function NAME: batches per partition, in order, offsets committed after
    success."""
    s = _settings()
    bootstrap = bootstrap or s.kafka_bootstrap or f"127.0.0.1:{s.broker_port}"
    mapping = _call(url, lambda c: c.create_event_source(
        name, topic, bootstrap, batch_size=batch_size, starting_position=start,
        qualifier=qualifier))
    typer.echo(f"mapped {topic}@{bootstrap} -> {name} ({mapping['uuid']})")


@sources.command("ls")
def sources_ls(url: str = URL, as_json: bool = JSON) -> None:
    """List event source mappings and what they have processed."""
    found = _call(url, lambda c: c.event_sources())
    if as_json:
        return emit_json(found)
    emit_table([Col("uuid", whole=True), Col("topic", whole=True), Col("function", whole=True),
                Col("batch"), Col("records"), Col("failed batches")],
               ([m["uuid"], f"{m['topic']}@{m['bootstrap']}",
                 f"{m['function']}:{m['qualifier']}", m["batch_size"], m.get("records", 0),
                 m.get("failedBatches", 0)] for m in found))


@sources.command("rm")
def sources_rm(mapping_uuid: str = typer.Argument(...), url: str = URL) -> None:
    """Delete an event source mapping (its consumer group's offsets stay on the log)."""
    _call(url, lambda c: c.delete_event_source(mapping_uuid))
    typer.echo(f"deleted {mapping_uuid}")


def _access_keys() -> Any:
    from bazaar.functions import PlatformAccess

    return PlatformAccess(_settings().data_dir / "functions")


@keys.command("create")
def keys_create(name: str = typer.Argument(..., help="What the key is for (unique)."),
                as_json: bool = JSON) -> None:
    """A new access key with the functions:admin scope; its secret is shown only now."""
    from bazaar.auth import AuthError
    from bazaar.functions import SCOPE

    access = _access_keys()
    try:
        issued = access.access_keys.create(name, [SCOPE])
    except AuthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        access.close()
    if as_json:
        return emit_json({"access_key_id": issued.app_id,
                          "secret_access_key": issued.api_key.reveal(), "name": name})
    typer.echo(f"AWS_ACCESS_KEY_ID={issued.app_id}")
    typer.echo(f"AWS_SECRET_ACCESS_KEY={issued.api_key.reveal()}")
    typer.echo("# shown once; any region works (the signature's own is used), service lambda",
               err=True)


@keys.command("ls")
def keys_ls(as_json: bool = JSON) -> None:
    """Access keys (never their secrets)."""
    access = _access_keys()
    try:
        found = access.access_keys.list()
    finally:
        access.close()
    rows = [{"access_key_id": a.app_id, "name": a.name, "scopes": sorted(a.scopes),
             "created": a.created_at, "last_used": a.last_used_at, "revoked": a.revoked}
            for a in found]
    if as_json:
        return emit_json(rows)
    emit_table([Col("access key id", whole=True), Col("name", whole=True), Col("created"),
                Col("last used"), Col("state")],
               ([r["access_key_id"], r["name"], _when(r["created"]), _when(r["last_used"]),
                 "revoked" if r["revoked"] else "active"] for r in rows))


@keys.command("revoke")
def keys_revoke(access_key_id: str = typer.Argument(...)) -> None:
    """Revoke an access key: refused by the platform within 5 s."""
    from bazaar.auth import AuthError

    access = _access_keys()
    try:
        access.access_keys.revoke(access_key_id)
    except AuthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        access.close()
    typer.echo(f"revoked {access_key_id}")


def _when(stamp: Any) -> str:
    if not stamp:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(float(stamp)))

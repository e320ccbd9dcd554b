"""``bazaar auth``: HMAC apps and their keys, JWT signing-key rotation, signing a request."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from bazaar.commands._output import JSON, Col, emit_json, emit_table

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bazaar.auth import AppRegistry, AuthConfig
    from bazaar.config import Settings

app = typer.Typer(help="API access: HMAC apps and keys, token signing keys, signed requests.",
                  no_args_is_help=True)
apps_app = typer.Typer(help="Apps that sign requests (RFC 9421 hmac-sha256).",
                       no_args_is_help=True)
keys_app = typer.Typer(help="The server's JWT signing keys.", no_args_is_help=True)
app.add_typer(apps_app, name="apps")
app.add_typer(keys_app, name="keys")

DataDir = typer.Option(None, "--data-dir", help="Where local state lives.")
DatabaseUrl = typer.Option(None, "--database-url", help="SQLAlchemy URL.")


def _settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from bazaar.config import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def auth_config(settings: Settings) -> AuthConfig:
    from bazaar import bootstrap

    return bootstrap.auth_config(settings)


def _engine(settings: Settings) -> Engine:
    from bazaar import auth, storage

    engine = storage.make_engine(settings.effective_database_url)
    auth.install(engine)
    return engine


def _registry(data_dir: Path | None, database_url: str | None) -> AppRegistry:
    from bazaar import auth

    settings = _settings(data_dir=data_dir, database_url=database_url)
    try:
        master = auth_config(settings).load_master_key()
    except auth.AuthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    return auth.AppRegistry(_engine(settings), master)


@apps_app.command("create")
def apps_create(
    name: str = typer.Argument(..., help="A unique name for the app."),
    scopes: str = typer.Option("", "--scopes", help="Comma-separated scopes, e.g. shop:read."),
    data_dir: Path | None = DataDir, database_url: str | None = DatabaseUrl,
) -> None:
    """Create an app: prints its APP ID (public) and API key (secret, shown only now)."""
    from bazaar.auth import AuthError

    registry = _registry(data_dir, database_url)
    try:
        issued = registry.create(name, [s.strip() for s in scopes.split(",") if s.strip()])
    except AuthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"APP ID   {issued.app_id}")
    typer.echo(f"API KEY  {issued.api_key.reveal()}")
    typer.echo(f"key id   {issued.key_id}  (the API key is shown once: store it now)")


@apps_app.command("ls")
def apps_ls(data_dir: Path | None = DataDir, database_url: str | None = DatabaseUrl,
            as_json: bool = JSON) -> None:
    """List apps: scopes, active keys, last use."""
    import datetime

    def when(t: float | None) -> str:
        if t is None:
            return "never"
        return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")

    apps = _registry(data_dir, database_url).list()
    if as_json:
        return emit_json(apps)
    emit_table([Col("app id", whole=True), Col("name"), Col("scopes"),
                Col("active keys", whole=True), Col("created"), Col("last used"), Col("state")],
               ([info.app_id, info.name, " ".join(sorted(info.scopes)),
                 " ".join(info.active_keys), when(info.created_at), when(info.last_used_at),
                 "revoked" if info.revoked else "active"] for info in apps))


@apps_app.command("rotate")
def apps_rotate(app_id: str = typer.Argument(..., help="The APP ID."),
                data_dir: Path | None = DataDir, database_url: str | None = DatabaseUrl) -> None:
    """Add a second key; switch clients to it, then revoke the old one."""
    from bazaar.auth import AuthError

    try:
        issued = _registry(data_dir, database_url).rotate(app_id)
    except AuthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"APP ID   {issued.app_id}")
    typer.echo(f"API KEY  {issued.api_key.reveal()}")
    typer.echo(f"key id   {issued.key_id}  (revoke the old key once clients use this one)")


@apps_app.command("revoke")
def apps_revoke(app_id: str = typer.Argument(..., help="The APP ID."),
                key: str | None = typer.Option(None, "--key", help="Only this key id."),
                data_dir: Path | None = DataDir, database_url: str | None = DatabaseUrl) -> None:
    """Revoke one key of an app, or the whole app."""
    from bazaar.auth import AuthError

    try:
        _registry(data_dir, database_url).revoke(app_id, key)
    except AuthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"revoked {app_id}" + (f" key {key}" if key else ""))


@keys_app.command("rotate")
def keys_rotate(
    publish_ahead: float = typer.Option(
        60.0, "--publish-ahead", min=0,  # bazaar.auth.JWKS_MAX_AGE_S
        help="Seconds the new key is published in the JWKS before it signs (verifiers may "
             "cache the JWKS this long). 0: sign with it at once (a compromised key)."),
    data_dir: Path | None = DataDir, database_url: str | None = DatabaseUrl,
) -> None:
    """Make a new token signing key: published now, signing after --publish-ahead seconds
    (running servers follow within 1 s); the old one verifies until its tokens expire."""
    import datetime

    from bazaar import auth

    settings = _settings(data_dir=data_dir, database_url=database_url)
    config = auth_config(settings)
    keys = auth.SigningKeys(_engine(settings), config.load_master_key(),
                            token_lifetime=config.access_token_ttl_s)
    kid = keys.rotate(publish_ahead_s=publish_ahead)
    starts = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=publish_ahead)
    typer.echo(f"signing with kid {kid}")
    typer.echo(f"published in the JWKS now; signs from {starts:%Y-%m-%d %H:%M:%SZ}"
               + (" (at once)" if publish_ahead == 0 else f" (in {publish_ahead:g} s)"))


@app.command("sign")
def sign(
    method: str = typer.Argument(..., help="HTTP method, e.g. GET or POST."),
    url: str = typer.Argument(..., help="The full URL, as the server's public origin spells it."),
    app_id: str = typer.Option(..., "--app-id", help="The APP ID (keyid)."),
    api_key: str = typer.Option(..., "--api-key", envvar="BAZAAR_API_KEY",
                                help="The API key (or set BAZAAR_API_KEY)."),
    data: str | None = typer.Option(None, "--data", help="The exact body to send."),
    content_type: str | None = typer.Option(None, "--content-type", help="Content-Type."),
) -> None:
    """Print a curl command with the RFC 9421 signature headers for one request."""
    from bazaar.auth import sign_request

    body = (data or "").encode()
    headers = {"Content-Type": content_type} if content_type else {}
    try:
        signed = sign_request(method, url, headers, body, keyid=app_id,
                              secret=api_key.encode())
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    parts = ["curl", "-X", method.upper(), url]
    for name, value in {**headers, **signed}.items():
        parts += ["-H", f"{name}: {value}"]
    if data is not None:
        parts += ["--data-binary", data]
    typer.echo(" ".join(shlex.quote(p) for p in parts))

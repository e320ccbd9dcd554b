"""``bazaar config``: what Bazaar will run with, and where each value came from."""

from __future__ import annotations

import typer

from bazaar.commands._output import JSON, Col, emit_json, emit_table

app = typer.Typer(help="Settings: every value and where it came from.", no_args_is_help=True)

_SECRET = {"master_key"}


@app.command("show")
def show(as_json: bool = JSON) -> None:
    """Every setting, its value, and its source: BAZAAR_* in the environment, ./.env,
    ./bazaar.toml, or the default (first match wins, in that order)."""
    from bazaar.commands.shop import settings_from
    from bazaar.config import Settings, origins

    settings = settings_from()
    where = origins()
    rows = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        shown = ("(set)" if value is not None else None) if name in _SECRET else value
        rows.append({"setting": name, "value": shown, "source": where.get(name, "default"),
                     "variable": f"BAZAAR_{name.upper()}"})
    if as_json:
        return emit_json([{**r, "value": _jsonable(r["value"])} for r in rows])
    emit_table([Col("setting", whole=True), Col("value", whole=True), Col("source")],
               ([r["setting"], "" if r["value"] is None else _text(r["value"]), r["source"]]
                for r in rows))


def _jsonable(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _text(value: object) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)

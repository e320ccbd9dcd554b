"""``bazaar lab``: list and run the experiments."""

from __future__ import annotations

from pathlib import Path

import typer

from bazaar.commands._output import JSON, Col, emit_json, emit_table

app = typer.Typer(help="Experiments that reproduce each explainer's claim on the real components.",
                  no_args_is_help=True)


@app.command("list")
def list_(as_json: bool = JSON) -> None:
    """List the experiments and the claim each one tests."""
    from bazaar import lab

    found = [(name, lab.load(name)) for name in lab.names()]
    if as_json:
        return emit_json([{"name": name, "explainer": e.explainer, "claim": e.claim}
                          for name, e in found])
    emit_table([Col("name", whole=True), Col("explainer"), Col("claim")],
               ([name, e.explainer, e.claim] for name, e in found))


@app.command("run")
def run(
    name: str = typer.Argument(..., help="Experiment name (see `bazaar lab list`)."),
    quick: bool = typer.Option(False, "--quick", help="A smaller run, about a minute."),
    out: Path = typer.Option(Path("results"), "--out", help="Where NAME.json and NAME.png go."),
) -> None:
    """Run an experiment: progress, a table, NAME.json and NAME.png under --out."""
    from bazaar import lab

    try:
        lab.run(name, quick=quick, out_dir=out)
    except lab.LabError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc

"""``bazaar lab``: list and run the experiments."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Experiments that reproduce each explainer's claim on the real components.",
                  no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """List the experiments and the claim each one tests."""
    from rich.console import Console
    from rich.table import Table

    from bazaar import lab

    table = Table("name", "explainer", "claim")
    for name in lab.names():
        experiment = lab.load(name)
        table.add_row(name, experiment.explainer, experiment.claim)
    Console().print(table)


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

"""Runs an experiment: progress on the terminal, a rich table, ``NAME.json`` and ``NAME.png``."""

from __future__ import annotations

import importlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from bazaar.lab._experiment import Experiment, Report, RunContext
from bazaar.lab._registry import REGISTRY


class LabError(Exception):
    """An experiment could not be found or run."""


def names() -> list[str]:
    return sorted(REGISTRY)


def load(name: str) -> Experiment:
    try:
        module_name = REGISTRY[name]
    except KeyError:
        known = ", ".join(names()) or "none"
        raise LabError(f"no experiment named {name!r}; known: {known}") from None
    experiment = importlib.import_module(module_name).EXPERIMENT
    assert isinstance(experiment, Experiment)
    return experiment


class _RichSteps:
    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    @contextmanager
    def step(self, description: str, total: float | None = None) -> Iterator[Any]:
        task = self._progress.add_task(description, total=total)

        class _Step:
            def advance(inner_self, amount: float = 1) -> None:
                self._progress.advance(task, amount)

        try:
            yield _Step()
        finally:
            done = total if total is not None else 1
            self._progress.update(task, completed=done, total=total or 1)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def render_table(experiment: Experiment, report: Report) -> Table:
    table = Table(title=experiment.title, show_lines=False)
    for column in report.columns:
        table.add_column(column)
    for row in report.rows:
        table.add_row(*(_cell(v) for v in row))
    return table


def run(name: str, *, quick: bool, out_dir: Path, console: Console | None = None,
        params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one experiment and write its JSON and PNG under ``out_dir``; return the JSON."""
    experiment = load(name)
    console = console or Console()
    out_dir.mkdir(parents=True, exist_ok=True)
    console.print(f"[bold]{experiment.title}[/bold]\n[dim]claim:[/dim] {experiment.claim}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"bazaar-lab-{name}-") as work, Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:
        ctx = RunContext(quick=quick, work_dir=Path(work), progress=_RichSteps(progress),
                         params=params or {}, log=console.print)
        report = experiment.run(ctx)
    elapsed = time.perf_counter() - started
    console.print(render_table(experiment, report))
    for note in report.notes:
        console.print(f"[dim]·[/dim] {note}")
    console.print(f"[bold]verdict:[/bold] {report.verdict}")
    result = {
        "name": experiment.name,
        "title": experiment.title,
        "explainer": experiment.explainer,
        "claim": experiment.claim,
        "verdict": report.verdict,
        "quick": quick,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(elapsed, 2),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "columns": report.columns,
        "rows": _jsonable(report.rows),
        "summary": _jsonable(report.summary),
        "notes": report.notes,
    }
    json_path = out_dir / f"{name}.json"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    if report.plot is not None:
        _write_plot(report, out_dir / f"{name}.png")
        console.print(f"wrote {json_path} and {out_dir / f'{name}.png'}")
    else:
        console.print(f"wrote {json_path}")
    return result


def _write_plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 5.5), dpi=110, layout="constrained")
    assert report.plot is not None
    report.plot(figure)
    figure.savefig(path)

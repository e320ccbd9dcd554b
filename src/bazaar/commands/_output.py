"""How listings are printed: a table for people, ``--json`` for programs, and never a cut id.

On a terminal, a rich table whose *whole* columns (ids, names a user copies) are never
wrapped or shortened — the other columns wrap instead; a terminal too narrow even for that
gets one ``header: value`` block per row (psql's expanded display). Piped (not a terminal),
plain tab-separated lines with a header, at full length, for ``cut``/``awk``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import typer

#: The ``--json`` option every listing takes.
JSON = typer.Option(False, "--json", help="Print the listing as JSON (for programs).")


@dataclass(frozen=True)
class Col:
    """A column: its header, and whether its values must be shown whole (ids)."""

    header: str
    whole: bool = False


def emit_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (see :func:`plain`)."""
    typer.echo(json.dumps(plain(data), indent=2, default=str))


def plain(value: Any) -> Any:
    """JSON-ready: dataclasses as objects (with their public properties, e.g. a derived
    ``lag``), sets as sorted lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name, attr in vars(type(value)).items():
            if isinstance(attr, property) and not name.startswith("_"):
                out[name] = plain(getattr(value, name))
        return out
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def emit_table(columns: Sequence[Col], rows: Iterable[Sequence[object]], *,
               title: str | None = None, terminal: bool | None = None) -> None:
    """``rows`` under ``columns``; see the module docstring for the two forms."""
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    if not (sys.stdout.isatty() if terminal is None else terminal):
        if title:
            typer.echo(f"# {title}")
        typer.echo("\t".join(c.header for c in columns))
        for row in cells:
            typer.echo("\t".join(value.replace("\t", " ").replace("\n", " ") for value in row))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    widths = [max([len(c.header), *(len(row[i]) for row in cells)])
              for i, c in enumerate(columns)]
    needed = sum(w if c.whole else min(w, _NARROWEST) for c, w in zip(columns, widths,
                                                                       strict=True))
    if needed + 3 * len(columns) + 1 > console.width:
        _records(console, columns, cells, title)
        return
    table = Table(title=title)
    for col, width in zip(columns, widths, strict=True):
        if col.whole:
            table.add_column(col.header, no_wrap=True, min_width=width, overflow="ignore")
        else:
            table.add_column(col.header, overflow="fold", min_width=min(width, _NARROWEST))
    for row in cells:
        table.add_row(*row)
    console.print(table, crop=False)


_NARROWEST = 8  # a wrapping column narrower than this is unreadable


def _records(console: Any, columns: Sequence[Col], cells: list[list[str]],
             title: str | None) -> None:
    pad = max(len(c.header) for c in columns)
    if title:
        console.print(title, markup=False, highlight=False)
    for n, row in enumerate(cells, 1):
        console.print(f"-[ {n} ]-", markup=False, highlight=False)
        for col, value in zip(columns, row, strict=True):
            console.print(f"{col.header:<{pad}} : {value}", markup=False, highlight=False,
                          crop=False, soft_wrap=True)

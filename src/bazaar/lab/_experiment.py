"""The shape every experiment shares: a claim, a run against real components, a report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class Step(Protocol):
    """A unit of visible progress inside a running experiment."""

    def advance(self, amount: float = 1) -> None: ...


class Progress(Protocol):
    def step(self, description: str, total: float | None = None) -> Any: ...


@dataclass
class RunContext:
    """What an experiment gets: how long to run, where to write scratch files, progress."""

    quick: bool
    work_dir: Path
    progress: Progress
    params: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = print

    @contextmanager
    def step(self, description: str, total: float | None = None) -> Iterator[Step]:
        with self.progress.step(description, total) as s:
            yield s


@dataclass
class Report:
    """What an experiment found. ``rows`` hold plain JSON values; ``plot`` draws the PNG."""

    columns: list[str]
    rows: list[list[Any]]
    verdict: str
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    plot: Callable[[Figure], None] | None = None


@dataclass(frozen=True)
class Experiment:
    """One explainer claim, reproduced on the real components."""

    name: str
    title: str
    explainer: str
    claim: str
    run: Callable[[RunContext], Report]

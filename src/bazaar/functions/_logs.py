"""Invocation reports and captured handler logs: the last ones in memory, all on disk.

Each invocation's REPORT (duration, init duration, max memory, error) and its captured output
is kept in a per-function ring and appended as a JSON line to ``logs/<function>.jsonl``.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from bazaar.functions._model import InvocationResult


class InvocationLog:
    """Reports per function, newest last."""

    def __init__(self, root: Path, keep: int = 500) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._keep = keep
        self._recent: dict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=keep))
        self._files: dict[str, Any] = {}

    def record(self, result: InvocationResult, *, invocation_type: str) -> None:
        report = {**result.report(), "invocationType": invocation_type}
        self._recent[result.function].append(report)
        f = self._files.get(result.function)
        if f is None:
            f = self._files[result.function] = open(  # noqa: SIM115 - kept open, closed in close()
                self.root / f"{result.function}.jsonl", "a", buffering=1)
        f.write(json.dumps(report) + "\n")

    def tail(self, function: str, limit: int = 20) -> list[dict[str, Any]]:
        """The last ``limit`` reports of ``function`` (from disk after a restart)."""
        recent = self._recent.get(function)
        if not recent:
            path = self.root / f"{function}.jsonl"
            if not path.exists():
                return []
            lines = path.read_text().splitlines()[-self._keep:]
            recent = self._recent[function]
            recent.extend(json.loads(line) for line in lines if line.strip())
        return list(recent)[-limit:] if limit > 0 else []

    def forget(self, function: str) -> None:
        self._recent.pop(function, None)
        f = self._files.pop(function, None)
        if f is not None:
            f.close()
        (self.root / f"{function}.jsonl").unlink(missing_ok=True)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

"""Run schemathesis (all checks) against a live API and read its JSON report.

Used for every service that publishes OpenAPI — the shop (``tests/integration/api``), the
orchestrator (``tests/integration/flow``), the functions frontend
(``tests/integration/functions``): give the document's URL, the headers that authenticate,
what to leave out, and the service's ``schemathesis.toml`` (which operations may answer a
schema-valid request with a 4xx, and why), kept beside its test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FuzzReport:
    """What one run found: ``failures`` (by check code, e.g. ST101 server error), ``errors``
    (requests that could not be made), and the counts."""

    exit_code: int
    failures: list[dict[str, Any]]
    errors: list[Any]
    test_cases: dict[str, int]
    warnings: list[Any] = field(default_factory=list)
    output: str = ""

    @property
    def clean(self) -> bool:
        return self.exit_code == 0 and not self.failures and not self.errors

    def summary(self) -> str:
        """The counts, and schemathesis's own account of each failure (with a curl line)."""
        start = self.output.find("FAILURES")
        details = self.output[start:start + 12000] if start >= 0 else self.output[-6000:]
        return (f"{self.test_cases}; failures: {self.failures}; errors: {self.errors}; "
                f"warnings: {self.warnings}\n{details}")


def fuzz(schema_url: str, report_dir: Path, *, headers: Mapping[str, str] | None = None,
         max_examples: int = 20, seed: int = 1, workers: int = 1,
         config: Path | None = None, exclude_path_regex: str | None = None,
         phases: Sequence[str] = (), timeout_s: float = 600) -> FuzzReport:
    """``schemathesis run SCHEMA_URL --checks all`` with a bounded number of examples per
    operation; raises ``subprocess.TimeoutExpired`` past ``timeout_s``.

    One worker by default: with several, hypothesis's lambda descriptions (``ast.parse`` in
    threads) now and then hit CPython 3.11's "AST constructor recursion depth mismatch" and
    the run reports an error that is schemathesis's, not the API's."""
    cli = Path(sys.executable).with_name("schemathesis")
    argv = [str(cli)]
    if config is not None:
        argv += ["--config-file", str(config)]
    argv += ["run", schema_url, "--checks", "all", "--max-examples", str(max_examples),
             "--seed", str(seed), "--workers", str(workers), "--report", "json",
             "--report-dir", str(report_dir), "--output-truncate", "false", "--no-color"]
    for name, value in (headers or {}).items():
        argv += ["--header", f"{name}: {value}"]
    if exclude_path_regex:
        argv += ["--exclude-path-regex", exclude_path_regex]
    if phases:
        argv += ["--phases", ",".join(phases)]
    report_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    reports = sorted(report_dir.glob("*.json"))
    if not reports:
        raise RuntimeError(f"schemathesis wrote no report (exit {done.returncode}):\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    data = json.loads(reports[-1].read_text())
    return FuzzReport(done.returncode, data.get("failures") or [], data.get("errors") or [],
                      data.get("test_cases") or {}, data.get("warnings") or [],
                      done.stdout + done.stderr)

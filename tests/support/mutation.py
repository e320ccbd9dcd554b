"""``./dev mutate [TARGET…]``: the mutation score of the modules where a bug costs money or data.

Each target is a few source files and only the tests that speak for them, so one target runs
in minutes. mutmut reads its settings from ``pyproject.toml`` in the folder it runs in, so each
target gets a scratch folder ``.mutmut/TARGET/`` holding links to ``src`` and ``tests`` and a
copy of ``pyproject.toml`` with that target's ``[tool.mutmut]`` added; mutmut's own
``mutants/`` tree and cache live there too (a re-run retests only what changed). Afterwards
the survivors are listed with ``mutmut show``; ``docs/testing.md`` keeps the last results and
why each survivor is equivalent or accepted.

Not part of ``./dev test``: it runs the listed tests once per mutant.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".mutmut"


@dataclass(frozen=True)
class Target:
    sources: tuple[str, ...]
    tests: tuple[str, ...]
    pytest_args: tuple[str, ...] = ()
    why: str = ""


# In-process tests only: a test that starts `python -m bazaar…` runs the original code, not the
# mutant, and can only make a run slower.
TARGETS: dict[str, Target] = {
    "bloom-positions": Target(
        ("src/bazaar/bloom/_hashing.py", "src/bazaar/bloom/_bits.py"),
        ("tests/unit/bloom/test_bloom_filter.py", "tests/unit/bloom/test_bloom_native.py",
         "tests/unit/bloom/test_bloom_files.py"),
        why="a wrong position is a false negative: a key said absent that was added"),
    "reservations": Target(
        ("src/bazaar/shop/adapters/reservations.py",),
        ("tests/integration/shop/test_shop_services.py",
         "tests/integration/shop/test_shop_optimistic.py",
         "tests/integration/shop/test_shop_reservation_rules.py"),
        ("-k", "sqlite or not postgresql"),
        why="oversold stock and double-booked rooms"),
    "orders": Target(
        ("src/bazaar/shop/services/orders.py", "src/bazaar/shop/domain/orders.py"),
        ("tests/unit/shop", "tests/integration/shop/test_shop_services.py",
         "tests/integration/shop/test_shop_api_rules.py",
         "tests/integration/shop/test_shop_order_rules.py",
         "tests/integration/shop/test_shop_refusals.py"),
        ("-k", "sqlite or not postgresql"),
        why="an order cancelled by someone else, stock returned twice"),
    "idempotency": Target(
        ("src/bazaar/shop/adapters/repositories.py",),
        ("tests/integration/shop/test_shop_api_rules.py",
         "tests/integration/shop/test_shop_services.py",
         "tests/integration/shop/test_shop_order_rules.py",
         "tests/integration/shop/test_shop_refusals.py"),
        ("-k", "sqlite or not postgresql"),
        why="one user's idempotency key replaying another's order"),
    "signatures": Target(
        ("src/bazaar/auth/_signatures.py", "src/bazaar/auth/_replay.py"),
        ("tests/unit/auth/test_auth_signatures.py", "tests/unit/auth/test_auth_rfc9421_vector.py",
         "tests/unit/auth/test_auth_signed_bodies.py", "tests/unit/auth/test_auth_fuzz.py",
         "tests/unit/auth/test_auth_replay_window.py", "tests/unit/auth/test_auth_nonce_store.py",
         "tests/unit/auth/test_auth_signature_refusals.py"),
        why="a tampered or replayed request accepted"),
    "tokens": Target(
        ("src/bazaar/auth/_tokens.py",),
        ("tests/unit/auth/test_auth_tokens.py", "tests/unit/auth/test_auth_interop.py",
         "tests/unit/auth/test_auth_token_claims.py"),
        why="a forged, expired or revoked token accepted"),
    "log-index": Target(
        ("src/bazaar/broker/log/index.py", "src/bazaar/broker/log/segment.py"),
        ("tests/unit/broker/test_broker_log.py",),
        why="acknowledged records lost or read from the wrong place after a restart"),
    "decider": Target(
        ("src/bazaar/flow/orchestrator/decider.py",),
        ("tests/unit/flow",),
        why="a saga that neither finishes nor compensates, or compensates in the wrong order"),
    "compensation": Target(
        ("src/bazaar/flow/checkout/payments.py",),
        ("tests/integration/flow/test_flow_checkout_orchestrated.py",),
        why="a charge that is never refunded"),
    "sandbox-limits": Target(
        ("src/bazaar/functions/_sandbox.py",),
        ("tests/integration/functions/test_functions_sandbox.py",),
        why="a function past its memory, time or file limits"),
}


def _pyproject(target: Target) -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = [
        "", "[tool.mutmut]",
        'source_paths = ["src"]',
        f"only_mutate = {json.dumps(list(target.sources))}",
        f"pytest_add_cli_args_test_selection = {json.dumps(list(target.tests))}",
        f"pytest_add_cli_args = {json.dumps(['-p', 'no:cacheprovider', *target.pytest_args])}",
        "",
    ]
    return text + "\n".join(section)


def prepare(name: str, target: Target) -> Path:
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    for link in ("src", "tests"):
        path = work / link
        if not path.is_symlink():
            path.symlink_to(ROOT / link)
    (work / "pyproject.toml").write_text(_pyproject(target), encoding="utf-8")
    return work


def _mutmut(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).with_name("mutmut")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([str(binary), *args], cwd=work, env=env, text=True,
                          capture_output=True, check=False)


KILLED = ("killed", "timeout")
UNKILLED = ("survived", "no tests")
SHOW_BOUND_S = 180.0  # `mutmut show` is one process per survivor: slow on a loaded machine


def _results(work: Path) -> dict[str, str]:
    listed = _mutmut(work, "results", "--all", "true").stdout
    found = (re.match(r"\s*(\S+): (.+)$", line) for line in listed.splitlines())
    return {m.group(1): m.group(2) for m in found if m}


def _verdicts(work: Path) -> dict[str, str]:
    """Every mutant's last real verdict. mutmut forgets the verdicts of mutants it was not
    asked to re-run by name ("not checked"), so they are kept here across runs."""
    path = work / "verdicts.json"
    kept: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    return kept


def _unkilled(work: Path) -> list[str]:
    """The mutants whose last verdict was not a kill (survived, or reached by no test)."""
    kept = _verdicts(work) or _results(work)
    return sorted(m for m, status in kept.items() if status in UNKILLED)


def run(name: str, workers: int, again: bool = False) -> dict[str, object]:
    target = TARGETS[name]
    work = prepare(name, target)
    chosen = _unkilled(work) if again else []
    if again and not chosen:
        print(f"{name}: nothing to re-test (no earlier run, or nothing survived it)",
              file=sys.stderr)
        exit_code = 0
    else:
        exit_code = subprocess.run([str(Path(sys.executable).with_name("mutmut")), "run",
                                    "--max-children", str(workers), *chosen],
                                   cwd=work, check=False).returncode
    verdicts = _verdicts(work)
    verdicts.update({m: s for m, s in _results(work).items() if s != "not checked"})
    (work / "verdicts.json").write_text(json.dumps(verdicts, indent=1, sort_keys=True),
                                        encoding="utf-8")
    counts: dict[str, int] = {}
    for status in verdicts.values():
        counts[status] = counts.get(status, 0) + 1
    killed = sum(counts.get(s, 0) for s in KILLED)
    total = sum(counts.values())
    survivors: list[dict[str, str]] = [
        {"mutant": m, "status": s} for m, s in sorted(verdicts.items()) if s in UNKILLED]
    summary = {"target": name, "sources": list(target.sources), "tests": list(target.tests),
               "counts": counts, "killed_ratio": round(killed / total, 3) if total else None,
               "survivors": survivors, "mutmut_exit": exit_code}
    out = work / "summary.json"
    out.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    deadline = time.monotonic() + SHOW_BOUND_S
    for survivor in survivors:  # the diffs, as time allows (`mutmut show NAME` for the rest)
        if time.monotonic() > deadline:
            break
        survivor["diff"] = _mutmut(work, "show", survivor["mutant"]).stdout
    out.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev mutate", description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--workers", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--survivors", action="store_true",
                        help="re-test, by name, only the last run's survivors (and the mutants "
                             "no test reached), e.g. after adding tests")
    args = parser.parse_args(argv)
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name:16} {', '.join(target.sources)}\n{'':16} ({target.why})")
        return 0
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    for name in args.targets or list(TARGETS):
        summary = run(name, args.workers, args.survivors)
        counts = summary["counts"]
        print(f"==> {name}: {counts} killed (timeouts included) {summary['killed_ratio']}; "
              f"{len(summary['survivors'])} survived (.mutmut/{name}/summary.json)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

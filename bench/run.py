"""Run Bazaar's benchmarks: ``./dev bench [NAME …] [--quick]``.

Each ``bench/bench_<name>.py`` defines ``main(quick: bool) -> None``; it measures Bazaar and a
baseline in the same run and prints the ratio. Run them one at a time: the machine has 2 cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}


def main(argv: list[str] | None = None) -> int:
    benches = available()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"some of: {', '.join(benches)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in benches]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    sys.path.insert(0, str(HERE))
    for name in args.names or list(benches):
        print(f"\n=== bench {name} ===", flush=True)
        spec = importlib.util.spec_from_file_location(f"bench_{name}", benches[name])
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses (and pickling) look their module up there
        spec.loader.exec_module(module)
        started = time.perf_counter()
        module.main(quick=args.quick)
        print(f"--- {name}: {time.perf_counter() - started:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

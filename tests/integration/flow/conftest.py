"""Make ``flow_helpers`` (unit tests) and ``checkout_helpers`` (here) importable."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "unit" / "flow"))

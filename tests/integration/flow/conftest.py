"""Make the unit tests' ``flow_helpers`` importable here too."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "flow"))

"""Make ``flow_helpers`` importable (pytest runs in importlib mode: no package here)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

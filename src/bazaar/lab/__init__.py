"""The lab: one module per experiment, each reproducing an explainer's claim on real components."""

from bazaar.lab._experiment import Experiment, Report, RunContext
from bazaar.lab._runner import LabError, load, names, run

__all__ = ["Experiment", "LabError", "Report", "RunContext", "load", "names", "run"]
